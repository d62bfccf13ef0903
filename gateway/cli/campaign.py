"""`gateway campaign run` and `gateway review overdue`: campaigns from the command line.

`review unclosed` lists campaigns that never wrote a closing record (their process died).
`campaign run` runs the very campaign `POST /v1/campaigns` runs (same checks, same records,
same commitment), as the named marketing system, for an operator logged in on the gateway host:
the access records name that login as the employee. `review overdue` lists releases (queries,
`gateway.rights.releases`) and campaigns past their use-by date whose recipient has not confirmed
destruction.
"""

from __future__ import annotations

import json
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import anyio
import typer

from gateway.cli.common import built_services, fail, login_name, settings_from_env
from gateway.errors import GatewayError

campaign_app = typer.Typer(help="Marketing campaigns: extract a consented list.")
review_app = typer.Typer(help="Reviews: the monthly access review (`--month yyyy-mm`), its "
                                 "sign-off, and releases and campaigns past their use-by date.")


@campaign_app.command("run")
def campaign_run(
    system: Annotated[str, typer.Option(help="the marketing system the campaign is for")],
    purpose: Annotated[str, typer.Option(help="a marketing purpose, e.g. marketing_sms")],
    channel: Annotated[str, typer.Option(help="its contact channel, e.g. sms")],
    reason: Annotated[str, typer.Option(help="why (refused if it holds a national id)")],
    ticket: Annotated[str, typer.Option(help="ticket or approval reference")],
    segment: Annotated[str, typer.Option(
        help='JSON list of filters, e.g. [{"attribute": "address", "view": "sido", '
             '"in": ["서울특별시"]}]')] = "[]",
    attributes: Annotated[str | None, typer.Option(
        help="comma-separated contact attributes (default: every one a rule grants)")] = None,
    fmt: Annotated[str, typer.Option("--format", help="ndjson or csv")] = "ndjson",
    out: Annotated[Path | None, typer.Option(help="write here instead of stdout")] = None,
) -> None:
    """Run a campaign: eligible customers as NDJSON (or CSV) lines, then a summary line."""
    from gateway.api.routes.campaigns import new_run
    from gateway.domain import Caller, SystemId
    from gateway.marketing.campaigns import checked_spec
    from gateway.pipeline import record_refusal

    try:
        filters: Any = json.loads(segment)
    except json.JSONDecodeError:
        typer.echo("error: `--segment` is not valid json", err=True)
        raise typer.Exit(2) from None
    if not isinstance(filters, list) or not all(isinstance(f, dict) for f in filters):
        typer.echo("error: `--segment` must be a json list of filters", err=True)
        raise typer.Exit(2)
    with built_services(settings_from_env()) as services:
        policy = services.policy.current
        found = policy.systems.get(SystemId(system))
        if found is None:
            typer.echo(f"error: unknown system `{system}`", err=True)
            raise typer.Exit(2)
        caller = Caller(found.affiliate, found.id, login_name("cli"), f"cli-{uuid.uuid4()}",
                        source="cli")
        now = datetime.now(UTC)
        rid = f"cli-{uuid.uuid4()}"
        wanted = attributes.split(",") if attributes else None

        async def main() -> None:
            try:
                spec = checked_spec(policy, caller, purpose=purpose, channel=channel,
                                    reason=reason, ticket=ticket, segment=filters,
                                    attributes=wanted, fmt=fmt)
            except GatewayError as exc:
                await record_refusal(services, exc, request_id=rid, now=now, caller=caller,
                                     policy_version=policy.version)
                raise
            run = new_run(services, policy, caller, spec, now, rid)
            await run.open()
            sink = out.open("wb") if out is not None else sys.stdout.buffer
            outcome = "failed"
            try:
                async for line in run.lines():
                    sink.write(line.data)
                    run.sent_line(line)
                sink.flush()
                outcome = "complete"
            except OSError:
                outcome = "disconnected"  # e.g. a closed pipe: what was written is recorded
            finally:
                if out is not None:
                    sink.close()
                await run.close(outcome)
            typer.echo(f"campaign {run.id}: {run.released} released of {run.candidates} "
                       f"candidates", err=True)

        try:
            anyio.run(main)
        except GatewayError as exc:
            fail(exc)


@review_app.command("overdue")
def review_overdue(
    fmt: Annotated[str, typer.Option("--format", help="text or json")] = "text",
    limit: Annotated[int, typer.Option(min=1, max=100_000,
                                       help="releases listed one by one (oldest first)")] = 100,
) -> None:
    """Releases and campaigns past their use-by date whose recipient has not confirmed
    destruction (exit status 1 when there is any)."""
    from gateway.marketing.campaigns import CampaignStore
    from gateway.rights.releases import release_index
    from gateway.rights.useby import kst_day

    now = datetime.now(UTC)
    today = kst_day(now)
    with built_services(settings_from_env()) as services:
        overdue = CampaignStore(services.gateway_engine).overdue(now)
        releases = release_index(services.gateway_engine, services.access_log)
        releases.catch_up()  # read what the log holds beyond the follower's position
        by_recipient = releases.overdue_by_recipient(today)
        oldest = releases.overdue(today, limit=limit)
    if fmt == "json":
        typer.echo(json.dumps({
            "today_kst": today.isoformat(),
            "campaigns": [c.as_dict() for c in overdue],
            "releases": {"by_recipient": [r.as_dict() for r in by_recipient],
                         "oldest": [r.as_dict() for r in oldest]}}, ensure_ascii=False, indent=2))
    elif not overdue and not by_recipient:
        typer.echo("nothing is past its use-by date without a destruction confirmation")
    else:
        for c in overdue:
            typer.echo(f"campaign {c.id}  {c.recipient}/{c.system}  {c.purpose} ({c.channel})  "
                       f"use-by {c.use_by:%Y-%m-%d}  released {c.released}  sent {c.sent}")
        for r in by_recipient:
            typer.echo(f"releases to {r.recipient}: {r.count} past use-by "
                       f"(oldest use-by {r.oldest_use_by.isoformat()} KST)")
        for row in oldest:
            typer.echo(f"release {row.log_index}  {row.recipient}  use-by "
                       f"{row.use_by.isoformat()} KST")
    if overdue or by_recipient:
        raise typer.Exit(1)  # something to act on


@review_app.command("unclosed")
def review_unclosed(
    hours: Annotated[int, typer.Option(min=0, help="started at least this long ago")] = 1,
) -> None:
    """Campaigns that never closed (the process died mid-stream): no closing record exists;
    what was sent is at most the leaves of their recorded batches."""
    from datetime import timedelta

    from gateway.marketing.campaigns import CampaignStore

    with built_services(settings_from_env()) as services:
        found = CampaignStore(services.gateway_engine).unclosed(
            datetime.now(UTC) - timedelta(hours=hours))
    for c in found:
        typer.echo(f"{c.id}  {c.recipient}/{c.system}  {c.purpose} ({c.channel})  "
                   f"started {c.created_at:%Y-%m-%d %H:%M}Z  released so far {c.released}  "
                   f"open record {c.open_index}")
    if found:
        raise typer.Exit(1)
    typer.echo("every campaign has its closing record")
