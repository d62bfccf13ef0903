"""`gateway users`: console users (employees who sign in to `/console`)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer

from gateway.cli.common import built_services, fail, login_name, settings_from_env
from gateway.errors import GatewayError

users_app = typer.Typer(help="Console users: employees with a role of the policy's `console:`.")


@users_app.command("add")
def users_add(
    username: Annotated[str, typer.Argument(help="sign-in name, e.g. lee.officer")],
    role: Annotated[str, typer.Option(help="a role of the policy's `console:` section")],
    name: Annotated[str, typer.Option(help="the name shown on the pages")],
    affiliate: Annotated[str, typer.Option(help="the affiliate the employee works for")] = "holding",
    password: Annotated[str, typer.Option(
        prompt=True, hide_input=True, confirmation_prompt=True,
        help="at least 12 characters (prompted when not given)")] = "",
    totp_secret: Annotated[str | None, typer.Option(
        help="base32 TOTP secret to use instead of a new one (demo and tests only)")] = None,
) -> None:
    """Create a console user. A role needing a second factor gets a TOTP secret, printed once."""
    from gateway import record
    from gateway.console.users import ConsoleUsers

    with built_services(settings_from_env()) as services:
        policy = services.policy.current
        found = policy.console_roles.get(role)
        if found is None:
            known = ", ".join(f"`{r}`" for r in sorted(policy.console_roles)) or "none"
            typer.secho(f"error: unknown console role `{role}` (the policy defines {known})",
                        err=True, fg=typer.colors.RED)
            raise typer.Exit(code=2)
        if affiliate not in policy.affiliates:
            typer.secho(f"error: unknown affiliate `{affiliate}`", err=True, fg=typer.colors.RED)
            raise typer.Exit(code=2)
        now = datetime.now(UTC)
        try:
            created = ConsoleUsers(services.gateway_engine).add(
                username=username, display_name=name, role=found, affiliate=affiliate,
                password=password, now=now, totp_secret=totp_secret)
            services.access_log.append(record.event_record(
                "console.user.add", request_id=f"cli-{now:%Y%m%dT%H%M%S%f}", now=now,
                caller=None, source=None, policy_version=policy.version, status=200,
                user=username, role=role, affiliate=affiliate, by=login_name("cli")))
        except GatewayError as exc:
            fail(exc)
    typer.echo(f"created console user `{username}` ({found.name_ko} / {found.name_en})")
    uri = created.provisioning_uri()
    if uri is not None:
        typer.echo("second factor (TOTP): add this to an authenticator app now; it is not "
                   "shown again")
        typer.echo(f"  secret: {created.totp_secret}")
        typer.echo(f"  uri:    {uri}")
