"""`gateway notices --year 2026 --out DIR`: the yearly notice to every customer whose data was
provided under a purpose with `notify_customer: true` (금융지주회사법 제48조의2 ⑥)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from gateway.cli.common import app, built_services, fail, settings_from_env
from gateway.errors import GatewayError


@app.command("notices")
def notices(
    year: Annotated[int, typer.Option(min=2000, max=2999, help="the KST calendar year")],
    out: Annotated[Path, typer.Option(help="folder for notices-<year>.jsonl, html/ and "
                                           "summary.json")],
    html: Annotated[bool, typer.Option(help="also write one Korean HTML page per customer")]
        = True,
    progress: Annotated[bool, typer.Option(help="show a progress bar on stderr")] = True,
) -> None:
    """Write the yearly notices, streaming over the whole log with flat memory."""
    from gateway.rights.notices import write_notices

    bars: dict[str, Any] = {}
    shown: dict[str, int] = {}

    def show(phase: str, done: int, total: int) -> None:
        if not progress or shown.get(phase, -1) >= max(total, 1):
            return
        if phase not in bars:
            label = "reading the log" if phase == "scan" else "writing notices"
            bars[phase] = typer.progressbar(length=max(total, 1), label=label)
            bars[phase].__enter__()
            shown[phase] = 0
        bars[phase].update(done - shown[phase])
        shown[phase] = done
        if done >= total:
            bars[phase].__exit__(None, None, None)
            shown[phase] = max(total, 1)

    with built_services(settings_from_env()) as services:
        try:
            summary = write_notices(services.access_log, services.policy.current, year, out,
                                    now=datetime.now(UTC), html=html, progress=show,
                                    campaigns_from=services.gateway_engine)
        except GatewayError as exc:
            fail(exc)
        except OSError as exc:
            typer.echo(f"error: cannot write the notices: {exc.strerror}", err=True)
            raise typer.Exit(2) from None
    typer.echo(json.dumps(summary.as_dict(), ensure_ascii=False))
