"""`gateway review --month 2026-11 --format html|pdf|json` and `gateway review sign-off`.

The monthly access review (gateway/review/) from the command line, with a progress bar on
stderr while the log is read; `review overdue` and `review unclosed` (campaigns) live in
`campaign.py` on the same command group.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from gateway.cli.campaign import review_app
from gateway.cli.common import built_services, fail, login_name, settings_from_env
from gateway.errors import GatewayError

if TYPE_CHECKING:
    from gateway.review import Review
    from gateway.services import Services

FORMATS = ("json", "html", "pdf")


def _as_of(text: str | None) -> datetime | None:
    from gateway.accesslog.export_select import parse_time

    return None if text is None else parse_time(text, "as-of")


def _build(services: Services, month: str, tree_size: int | None, as_of: str | None,
           history: int, quiet: bool) -> Review:
    from tqdm import tqdm

    from gateway.review import Month, build_review

    wanted = Month.parse(month)
    bar = tqdm(total=0, unit="rec", unit_scale=True, desc=f"review {wanted}", file=sys.stderr,
               disable=quiet or None, leave=False)  # None: off when stderr is no terminal

    def progress(done: int, total: int) -> None:
        bar.total = total
        bar.update(done - bar.n)

    try:
        return build_review(services.log_engine, services.policy.current, wanted,
                            tree_size=tree_size, as_of=_as_of(as_of), history_months=history,
                            progress=progress)
    finally:
        bar.close()


@review_app.callback(invoke_without_command=True)
def review_month(
    ctx: typer.Context,
    month: Annotated[str | None, typer.Option(help="the month to review, yyyy-mm (KST)")] = None,
    fmt: Annotated[str, typer.Option("--format", help="json, html or pdf")] = "json",
    out: Annotated[Path | None, typer.Option(help="write here instead of stdout")] = None,
    tree_size: Annotated[int | None, typer.Option(
        min=0, help="review the log's first N records (default: all, now)")] = None,
    as_of: Annotated[str | None, typer.Option(
        help="judge use-by dates at this rfc 3339 instant (default: now)")] = None,
    history: Annotated[int, typer.Option(min=1, max=12, help="previous months compared")] = 3,
    quiet: Annotated[bool, typer.Option(help="no progress bar")] = False,
) -> None:
    """Monthly access review: volumes, heat map, denials, campaigns, overdue releases and the
    employees who stand out. Subcommands: `sign-off`, `overdue`, `unclosed`."""
    if ctx.invoked_subcommand is not None:
        return
    if month is None:
        typer.echo(ctx.get_help())
        raise typer.Exit(2)
    if fmt not in FORMATS:
        typer.echo("error: `--format` must be json, html or pdf", err=True)
        raise typer.Exit(2)
    if fmt == "pdf" and out is None and sys.stdout.isatty():
        typer.echo("error: a pdf needs `--out` (or a redirected stdout)", err=True)
        raise typer.Exit(2)
    from gateway.review.documents import review_html, review_pdf

    with built_services(settings_from_env()) as services:
        try:
            review = _build(services, month, tree_size, as_of, history, quiet)
        except GatewayError as exc:
            fail(exc)
        if fmt == "json":
            data = (json.dumps(review.as_json(), ensure_ascii=False, indent=2) + "\n").encode()
        elif fmt == "html":
            data = review_html(review, services.policy.current).encode()
        else:
            data = review_pdf(review, services.policy.current)
    if out is None:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
    else:
        out.write_bytes(data)
        outliers = review.content["outliers"]
        typer.echo(f"wrote {out}: {review.content['accesses']:,} accesses in {review.month}, "
                   f"{len(outliers)} employee(s) standing out; digest {review.digest}", err=True)


@review_app.command("sign-off")
def review_sign_off(
    month: Annotated[str, typer.Option(help="the reviewed month, yyyy-mm (KST)")],
    reviewer: Annotated[str, typer.Option(help="who signs the review off (name and role)")],
    comment: Annotated[str, typer.Option(help="the reviewer's finding (no national id)")],
    digest: Annotated[str | None, typer.Option(
        help="the digest of the review read (refused if the rebuilt review differs)")] = None,
    tree_size: Annotated[int | None, typer.Option(min=0, help="the review's tree size")] = None,
    as_of: Annotated[str | None, typer.Option(help="the review's as-of instant")] = None,
    history: Annotated[int, typer.Option(min=1, max=12, help="previous months compared")] = 3,
    quiet: Annotated[bool, typer.Option(help="no progress bar")] = False,
) -> None:
    """Sign a monthly review off: a `review.signoff` record in the access log naming the
    review's digest (pass the `--tree-size`, `--as-of` and `--digest` the review printed to
    sign exactly what was read)."""
    from gateway.review.signoff import signoff_record

    with built_services(settings_from_env()) as services:
        try:
            review = _build(services, month, tree_size, as_of, history, quiet)
            entry = signoff_record(
                review, reviewer=f"{reviewer} (login: {login_name('cli')})", comment=comment,
                now=datetime.now(UTC), expected_digest=digest,
                policy_version=services.policy.current.version)
            index = services.access_log.append(entry)
        except GatewayError as exc:
            fail(exc)
    typer.echo(f"signed off {review.month} ({review.digest}) at log index {index:,}")
