"""`gateway keys`: the gateway's own secrets and the demo systems' key pairs."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from gateway.cli.common import fail, settings_from_env
from gateway.errors import GatewayError

keys_app = typer.Typer(help="Key material: the gateway's secrets and the demo systems' keys.")


@keys_app.command("init")
def keys_init(
    systems: Annotated[bool, typer.Option(help="also generate demo key pairs for every "
                                          "system in the policy")] = True,
) -> None:
    """Generate the gateway's master key and log-signing key (and demo system keys)."""
    from gateway.keys import generate_system_keys
    from gateway.services import ensure_secrets

    settings = settings_from_env()
    try:
        ensure_secrets(settings, create=True)
        made: list[str] = []
        if systems:
            made = list(generate_system_keys(Path(settings.policy_dir),
                                             Path(settings.public_keys_dir),
                                             settings.secrets_path))
    except GatewayError as exc:
        fail(exc)
    typer.echo(f"gateway secrets in {settings.secrets_path}")
    if made:
        typer.echo(f"generated demo keys for {len(made)} systems "
                   f"(public: {settings.public_keys_dir}/systems, private: "
                   f"{settings.secrets_path}/systems)")
