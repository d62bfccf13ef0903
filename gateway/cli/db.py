"""`gateway db`: the gateway database schema (Alembic migrations)."""

from __future__ import annotations

import typer

from gateway.cli.common import settings_from_env

db_app = typer.Typer(help="The gateway database schema (Alembic migrations).")


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Create or migrate the gateway database to the latest schema."""
    from gateway.db.migrate import upgrade

    settings = settings_from_env()
    upgrade(settings.gateway_url)
    typer.echo("gateway database is at the latest schema")
