"""What every subcommand shares: the root Typer app, settings and error reporting."""

from __future__ import annotations

import sys

import getpass
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import typer

from gateway.errors import GatewayError
from gateway.settings import Settings, get_settings

if TYPE_CHECKING:
    from gateway.services import Services

app = typer.Typer(
    help="Affiliate data gateway. Settings come from GATEWAY_* environment variables "
    "(GATEWAY_DATA_DIR, GATEWAY_DATABASE_URL, GATEWAY_POLICY_DIR, ...) or a .env file.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


def fail(exc: GatewayError) -> None:
    """Report a gateway error in one line and exit with code 2."""
    typer.secho(f"error: {exc.detail}", err=True, fg=typer.colors.RED)
    raise typer.Exit(code=2)


def settings_from_env(demo: bool = False) -> Settings:
    settings = get_settings()
    if demo:
        settings = settings.model_copy(update={"demo": True})
    return settings


@contextmanager
def built_services(settings: Settings) -> Iterator[Services]:
    """The gateway's services for one command; a gateway error exits with its one line."""
    from gateway.services import Services

    try:
        services = Services.build(settings)
    except GatewayError as exc:
        fail(exc)
    try:
        yield services
    except GatewayError as exc:
        fail(exc)
    finally:
        services.close()


def login_name(fallback: str) -> str:
    """Who runs the command, for the access record; `fallback` when the system cannot say."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (e.g. a container user)
        return fallback


def national_id_from_stdin(option: str | None) -> str:
    """The national id number a command was given as `--rrn -`: read from standard input,
    never from the command line, where it would stay in the shell history (exit 2 otherwise)."""
    if option != "-":
        typer.secho("error: give `--rrn -` and type the number on standard input: a number on "
                    "the command line stays in the shell history", err=True, fg=typer.colors.RED)
        raise typer.Exit(code=2)
    return sys.stdin.readline().strip()
