"""`gateway customer history`: a customer's access history as a Korean document, from a terminal.

The RRN is read from standard input (`--rrn -`), never from the command line (shell history,
process lists), and is printed only masked. The look-up is an access record (`history`) naming
the channel system given with `--system` and the person who ran the command, durable before
anything is written out (fail closed).
"""

from __future__ import annotations

import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Literal

import typer

from gateway.cli.common import (
    built_services,
    login_name,
    national_id_from_stdin,
    settings_from_env,
)

customer_app = typer.Typer(help="What the log says about one customer (신용정보법 제35조).",
                           no_args_is_help=True)

Format = Literal["json", "html", "pdf"]


@customer_app.command("history")
def customer_history(
    rrn: Annotated[str, typer.Option(
        help="`-`: read the RRN from standard input (it is never taken from the command line)")],
    format: Annotated[str, typer.Option(help="json, html or pdf")] = "html",
    out: Annotated[Path | None, typer.Option(
        help="file to write (default: standard output; required for pdf)")] = None,
    system: Annotated[str, typer.Option(
        help="the customer channel the look-up is made for (needs `history:read`)")]
    = "holding-customer-center",
    since: Annotated[str | None, typer.Option(help="start, RFC 3339 (default: 3 years ago)")]
    = None,
    until: Annotated[str | None, typer.Option(help="end, RFC 3339 (default: now)")] = None,
) -> None:
    """Render the customer's access history: 개인신용정보 이용·제공 내역 조회."""
    if format not in ("json", "html", "pdf"):
        typer.secho("error: `--format` must be json, html or pdf", err=True, fg=typer.colors.RED)
        raise typer.Exit(code=2)
    if format == "pdf" and out is None:
        typer.secho("error: a pdf needs `--out FILE`", err=True, fg=typer.colors.RED)
        raise typer.Exit(code=2)
    given = national_id_from_stdin(rrn)
    now = datetime.now(UTC)
    with built_services(settings_from_env()) as svc:
        doc, masked = _history(svc, given, system, _moment(since), _moment(until), now)
    del given
    data = _render(doc, format, now)  # type: ignore[arg-type]
    if out is None:
        sys.stdout.write(data.decode("utf-8"))
    else:
        out.write_bytes(data)
    typer.echo(f"{masked}: 내역 {len(doc['entries'])}건, 표시하지 않은 {doc['hidden_total']}건, "
               f"캠페인 {len(doc['campaigns'])}건 (기록 번호 {doc['log_index']})"
               + (f" → {out}" if out is not None else ""), err=True)


def _moment(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        typer.secho("error: a period bound is not an RFC 3339 time", err=True,
                    fg=typer.colors.RED)
        raise typer.Exit(code=2) from None


def _history(svc: Any, rrn: str, system: str, since: datetime | None,
             until: datetime | None, now: datetime) -> tuple[dict[str, Any], str]:
    """Every page of the history under one checkpoint, recorded; and the masked RRN."""
    from gateway.api.routes.consents import managed_customer
    from gateway.domain import AffiliateId, Caller, SystemId
    from gateway.pipeline import require_permission
    from gateway.record import event_record, timestamp
    from gateway.resolve import CustomerRef
    from gateway.rights.history import MAX_LIMIT, AccessHistory, Cursor, Period
    from gateway.rights.history_json import page_json
    from pseudonymizer.rrn import parse_national_id

    policy = svc.policy.current
    channel = policy.systems.get(system)
    if channel is None:
        typer.secho(f"error: `{system}` is not a system of the policy", err=True,
                    fg=typer.colors.RED)
        raise typer.Exit(code=2)
    caller = Caller(AffiliateId(channel.affiliate), SystemId(system),
                    employee=login_name("customer-history"), token_id="cli", source="cli")
    require_permission(policy, caller, "history:read")
    period = Period.of(since, until, now)
    key, pseudonym = managed_customer(svc, caller, CustomerRef(rrn=rrn))
    masked = parse_national_id(rrn).masked()
    reader = AccessHistory(svc.gateway_engine, svc.access_log)
    page = reader.page(key, policy, period=period, limit=MAX_LIMIT)
    pages = [page]
    while pages[-1].next_cursor is not None:
        pages.append(reader.page(key, policy, period=period, limit=MAX_LIMIT,
                                 cursor=Cursor.decode(pages[-1].next_cursor)))
    entries = [e for p in pages for e in p.entries]
    index = svc.access_log.append(event_record(
        "history", request_id=uuid.uuid4().hex, now=now, caller=caller, source="cli",
        policy_version=policy.version, status=200, customer=key, tree_size=page.tree_size,
        listed=[e.log_index for e in entries],
        hidden={h.exemption.purpose: h.count for h in page.hidden},
        campaigns=[c.campaign for c in page.campaigns],
        period={"since": timestamp(period.since), "until": timestamp(period.until)},
        page="all"))
    doc = page_json(page, request_id="cli", log_index=index, pseudonym=pseudonym,
                    rrn_masked=masked)
    doc["entries"] = [entry for p in pages for entry in page_json(
        p, request_id="cli", log_index=index, pseudonym=pseudonym,
        rrn_masked=masked)["entries"]]
    doc["next_cursor"] = None
    return doc, masked


def _render(doc: dict[str, Any], format: Format, now: datetime) -> bytes:
    import json

    from gateway.rights.history_document import history_html, history_pdf

    if format == "json":
        return (json.dumps(doc, ensure_ascii=False, indent=1) + "\n").encode("utf-8")
    if format == "html":
        return history_html(doc, generated=now).encode("utf-8")
    return history_pdf(doc, generated=now)
