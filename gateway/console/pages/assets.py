"""The console's Korean font, served by the gateway (see `gateway.console.fonts`)."""

from __future__ import annotations

from anyio import to_thread
from fastapi import APIRouter
from fastapi.responses import Response

from gateway.console.fonts import font_bytes

router = APIRouter(prefix="/console/fonts", tags=["console"], include_in_schema=False)


@router.get("/{name}")
async def font(name: str) -> Response:
    data = await to_thread.run_sync(font_bytes, name)
    if data is None:
        return Response(status_code=404)
    return Response(data, media_type="font/ttf",
                    headers={"Cache-Control": "public, max-age=86400"})
