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


@db_app.command("index-history")
def db_index_history(
    start: int = typer.Option(0, help="first log index to index (default: the whole log)"),
) -> None:
    """Index the records already in the log by customer (the access history's index).

    Records appended since migration 0007 are indexed as they are written; this adds the
    older ones. Streams the log in chunks; safe to run again and while the gateway serves.
    """
    from gateway.accesslog.customer_index import backfill
    from gateway.db.engine import make_engine

    settings = settings_from_env()
    engine = make_engine(settings.gateway_url)
    try:
        def progress(done: int, size: int) -> None:
            typer.echo(f"\rindexed {done:,} of {size:,} records", nl=False, err=True)

        found = backfill(engine, start=start, progress=progress)
    finally:
        engine.dispose()
    typer.echo("", err=True)
    typer.echo(f"{found:,} records concern a customer; all are in the per-customer index")
