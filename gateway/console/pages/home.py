"""The front page: the log's current checkpoint and the latest alerts."""

from __future__ import annotations

from typing import Annotated

from anyio import to_thread
from fastapi import APIRouter, Depends
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from gateway.console import logview
from gateway.console.web import Opens, Page, add_nav

router = APIRouter(prefix="/console", tags=["console"], include_in_schema=False)
add_nav("home", "/console/", "nav.home")


@router.get("", response_class=HTMLResponse)
async def bare() -> Response:
    return RedirectResponse("/console/", status_code=307)


@router.get("/", response_class=HTMLResponse)
async def home(page: Annotated[Page, Depends(Opens("home"))]) -> Response:
    def read() -> tuple[list[logview.CheckpointView], list[logview.AlertView], int]:
        latest = logview.checkpoints(page.services, 1)
        alerts, scanned = logview.recent_alerts(page.services)
        return latest, alerts, scanned

    latest, alerts, scanned = await to_thread.run_sync(read)
    return page.render("home.html", checkpoint=latest[0] if latest else None, alerts=alerts,
                       scanned=scanned)
