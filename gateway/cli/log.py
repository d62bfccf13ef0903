"""`gateway log`: checkpoints and exports of the access log."""

from __future__ import annotations

import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from gateway.cli.common import (
    built_services,
    fail,
    national_id_from_stdin,
    settings_from_env,
)
from gateway.errors import GatewayError
from gateway.settings import Settings

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from gateway.accesslog import AccessLog

log_app = typer.Typer(help="The access log: checkpoints and export.")


@log_app.command("checkpoint")
def log_checkpoint() -> None:
    """Sign and print the current checkpoint (C2SP signed note) and the verifier key."""
    with built_services(settings_from_env()) as services:
        typer.echo(services.access_log.checkpoint(), nl=False)
        typer.echo(f"\nverifier key: {services.signer.verifier_key()}")


def _open_log(settings: Settings) -> tuple[AccessLog, Engine, list[str]]:
    """The access log alone (no policy, no affiliates) and the log's verifier keys.

    The keys are the current signing key and every published one (older keys after a
    rotation), so that an archive spanning a rotation carries all it needs.
    """
    from gateway.accesslog import AccessLog
    from gateway.accesslog.keyring import LogKeyring, published_verifier_keys
    from gateway.db.engine import make_engine
    from gateway.services import ensure_secrets

    ensure_secrets(settings, create=False)
    keyring = LogKeyring(settings.secrets_path, name=settings.log_origin)
    engine = make_engine(settings.gateway_url)
    access_log = AccessLog(engine, keyring, origin=settings.log_origin, create_tables=False)
    keys = [keyring.verifier_key(), *published_verifier_keys(Path(settings.public_keys_dir)).values()]
    return access_log, engine, list(dict.fromkeys(keys))


def _customer_of_rrn(settings: Settings, rrn: str, exported_by: str) -> str:
    """The customer key of the national id number on standard input; the look-up (who, and
    that it was for an export) is an access record whether or not the number is known."""
    import secrets

    from gateway import record
    from gateway.freetext import refuse_national_id
    from pseudonymizer.rrn import InvalidNationalId, parse_national_id

    given = national_id_from_stdin(rrn)
    refuse_national_id("exported_by", exported_by)
    try:
        nid = parse_national_id(given)
    except InvalidNationalId:
        typer.secho("error: standard input does not hold a valid national id number", err=True,
                    fg=typer.colors.RED)
        raise typer.Exit(code=2) from None
    with built_services(settings) as services:
        key = services.registry.lookup(nid.digits)
        services.access_log.append(record.event_record(
            "customer.lookup", request_id=secrets.token_hex(16), now=datetime.now(UTC),
            caller=None, source="cli", policy_version=services.policy.current.version,
            status=200 if key is not None else 404, customer=key, purpose="log.export",
            by=exported_by))
    if key is None:
        typer.secho("error: no customer holds that number (the look-up is recorded)", err=True,
                    fg=typer.colors.RED)
        raise typer.Exit(code=1)
    return str(key)


@log_app.command("export")
def log_export(
    out: Annotated[Path, typer.Option(help="archive to write (.tar, or .tar.gz to compress)")],
    exported_by: Annotated[str, typer.Option(help="who exports (name, role or ticket)")],
    since: Annotated[str | None, typer.Option(
        help="first instant, rfc 3339 (inclusive); a date alone (2026-11-01) means its "
             "midnight KST")] = None,
    until: Annotated[str | None, typer.Option(
        help="end instant, rfc 3339 (exclusive); a date alone means its midnight KST")] = None,
    affiliate: Annotated[list[str] | None, typer.Option(
        help="recipient affiliate (repeatable)")] = None,
    customer: Annotated[list[str] | None, typer.Option(
        help="customer key (repeatable)")] = None,
    rrn: Annotated[str | None, typer.Option(
        help="one customer by national id number: give `-` and type the number on standard "
             "input (never on the command line); the look-up is itself recorded")] = None,
    purpose: Annotated[list[str] | None, typer.Option(help="purpose id (repeatable)")] = None,
    previous_checkpoint: Annotated[Path | None, typer.Option(
        help="signed checkpoint of the previous export: adds a consistency proof")] = None,
) -> None:
    """Write a regulator's export archive (docs/EXPORT-FORMAT.md); progress on stderr."""
    from gateway.accesslog.export import export_archive
    from gateway.accesslog.export_select import ExportFilters

    settings = settings_from_env()
    try:
        customers = list(customer or ())
        if rrn is not None:
            customers.append(_customer_of_rrn(settings, rrn, exported_by))
        filters = ExportFilters.of(since=since, until=until, affiliates=affiliate or None,
                                   customers=customers or None, purposes=purpose or None)
        previous = None
        if previous_checkpoint is not None:
            try:
                previous = previous_checkpoint.read_text("utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                typer.secho(f"error: cannot read `{previous_checkpoint}`: {exc}", err=True,
                            fg=typer.colors.RED)
                raise typer.Exit(code=2) from exc
        access_log, engine, keys = _open_log(settings)
    except GatewayError as exc:
        fail(exc)
    started = time.perf_counter()

    def progress(done: int, total: int) -> None:
        rate = done / max(time.perf_counter() - started, 1e-9)
        typer.echo(f"\r  scanned {done:,}/{total:,} log records ({rate:,.0f}/s)", nl=False,
                   err=True)

    try:
        result = export_archive(
            access_log, engine, out, verifier_keys=keys, exported_by=exported_by,
            now=datetime.now(UTC), filters=filters, previous_checkpoint=previous,
            progress=progress)
    except GatewayError as exc:
        fail(exc)
    finally:
        access_log.close()
        engine.dispose()
    typer.echo("", err=True)
    typer.echo(f"wrote {result.path}: {result.counts.count:,} records of a log of "
               f"{result.covers_tree_size:,} in {time.perf_counter() - started:.1f} s; "
               f"the export is logged at index {result.export_index:,}")


@log_app.command("verify", context_settings={"allow_extra_args": True,
                                             "ignore_unknown_options": True})
def log_verify(ctx: typer.Context) -> None:
    """Run the standalone verifier `gateway-verify` (same arguments; see `--help` there).

    Without `--key`/`--key-file`, trusts this gateway's own published log keys.
    """
    from gateway_verify.cli import main as verify_main

    args = list(ctx.args)
    if args[:1] != ["consistency"] and not any(
        a.startswith(("--key", "-h", "--help")) for a in args
    ):
        from gateway.accesslog.keyring import published_verifier_keys

        settings = settings_from_env()
        try:
            keys = published_verifier_keys(Path(settings.public_keys_dir))
        except GatewayError as exc:
            fail(exc)
        for key in keys.values():
            args += ["--key", key]
    sys.stdout.flush()
    raise typer.Exit(code=verify_main(args))
