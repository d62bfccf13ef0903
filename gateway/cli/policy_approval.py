"""`gateway policy propose|pending|approve`: four eyes from the command line.

`propose` checks the files on disk and puts the officer's name to them (pending); `approve`,
by a second officer, makes that exact version live. Running gateways pick the approval up from
the database within `GATEWAY_POLICY_FOLLOW_INTERVAL_S`. Each step is an access record naming
the officer (and the login that ran the command).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, NoReturn

import typer

from gateway.cli.common import built_services, fail, login_name, settings_from_env
from gateway.cli.policy import policy_app
from gateway.errors import GatewayError

if TYPE_CHECKING:
    from gateway.governance import Officer

OfficerOpt = Annotated[str, typer.Option(
    "--officer", help="your employee id, as a second officer will see it (required)")]


def _officer(name: str) -> Officer:
    """The officer named on the command line; the login that ran the command goes along."""
    from gateway.governance import Officer

    try:
        return Officer.named(name, via="cli", system=f"cli:{login_name('unknown')}")
    except GatewayError as exc:
        _exit(exc)


def _exit(exc: GatewayError) -> NoReturn:
    fail(exc)
    raise typer.Exit(code=2)  # fail() has exited already


@policy_app.command("propose")
def policy_propose(officer: OfficerOpt) -> None:
    """Check the policy files (GATEWAY_POLICY_DIR) and propose them for approval in your name.
    Exits 1 when the set has errors (each listed, in English and Korean)."""
    who = _officer(officer)
    with built_services(settings_from_env()) as services:
        result = services.reloader.reload("cli", officer=who)
        for problem in result.problems:
            typer.echo(f"{problem.file}:{problem.line}:{problem.column}: {problem.severity} "
                       f"{problem.code}: {problem.message}\n    {problem.message_ko}")
        if result.outcome == "rejected":
            typer.secho(f"not proposed: {len(result.problems)} error(s); still serving "
                        f"{result.live_version}", fg=typer.colors.RED, err=True)
            raise typer.Exit(code=1)
        if result.outcome == "unrecorded":
            typer.secho(f"not proposed: the proposal could not be recorded: {result.error}",
                        fg=typer.colors.RED, err=True)
            raise typer.Exit(code=2)
        if result.version == result.live_version:
            typer.echo(f"the files are the live policy already ({result.live_version})")
            return
        pending = services.reloader.store.pending()
        proposer = pending.proposed_by if pending else None
        if result.applied:
            typer.echo(f"applied at once (auto-apply, demo): {result.version}")
        elif result.outcome == "proposed":
            typer.echo(f"proposed by {who.name}: {result.version} (log index {result.log_index})")
            typer.echo(f"a second officer approves it with:\n  gateway policy approve "
                       f"{result.version} --officer NAME")
        else:
            typer.echo(f"already pending: {result.version}, proposed by {proposer}")


@policy_app.command("pending")
def policy_pending() -> None:
    """Show the live policy version and the set waiting for approval, if any."""
    with built_services(settings_from_env()) as services:
        store = services.reloader.store
        live, pending = store.live(), store.pending()
        typer.echo(f"live:    {services.policy.current.version}"
                   + (f" (approved by {live.approved_by})" if live and live.approved_by else ""))
        if pending is None:
            typer.echo("pending: none")
            return
        typer.echo(f"pending: {pending.version} (found by {pending.detected_by}, proposed by "
                   f"{pending.proposed_by or 'nobody yet'})")


@policy_app.command("approve")
def policy_approve(
    version: Annotated[str, typer.Argument(help="the exact version hash of the pending set")],
    officer: OfficerOpt,
) -> None:
    """Approve the pending policy set: it goes live in every gateway process. You may not
    approve a set you proposed; the version must be the pending one (not a stale one)."""
    who = _officer(officer)
    with built_services(settings_from_env()) as services:
        result = services.reloader.approve(version, who)
        typer.echo(f"live: {result.new_version} (was {result.old_version}); proposed by "
                   f"{result.proposed_by}, approved by {result.approved_by} "
                   f"(log index {result.log_index})")
