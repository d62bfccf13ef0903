"""`gateway log`: checkpoints and exports of the access log."""

from __future__ import annotations

import typer

from gateway.cli.common import fail, settings_from_env
from gateway.errors import GatewayError

log_app = typer.Typer(help="The access log: checkpoints and export.")


@log_app.command("checkpoint")
def log_checkpoint() -> None:
    """Sign and print the current checkpoint (C2SP signed note) and the verifier key."""
    from gateway.services import Services

    settings = settings_from_env()
    try:
        services = Services.build(settings)
    except GatewayError as exc:
        fail(exc)
    try:
        typer.echo(services.access_log.checkpoint(), nl=False)
        typer.echo(f"\nverifier key: {services.signer.verifier_key()}")
    finally:
        services.close()
