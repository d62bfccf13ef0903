"""`/docs` and `/redoc` offline: Swagger UI and ReDoc served from the `fastapi-offline`
package's static files, no CDN.

Bank networks are separated from the internet (망분리), so FastAPI's default pages, which load
Swagger UI and ReDoc from a CDN, are blank there. The pages, their start-up script and the
assets (Swagger UI 5, which reads OpenAPI 3.1, and ReDoc 2; MIT and Apache-2.0 licences in
the package) all come from this process. Only the asset files of `fastapi-offline` are used.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response

router = APIRouter(tags=["docs"], include_in_schema=False)

ASSETS = "/docs/assets"


def assets_dir() -> Path:
    spec = importlib.util.find_spec("fastapi_offline")
    if spec is None or spec.origin is None:
        raise RuntimeError("the `fastapi-offline` package (offline API docs) is not installed")
    return Path(spec.origin).parent / "static"


_SWAGGER = f"""<!doctype html>
<html lang="ko">
<head>
<meta charset="utf-8">
<title>API 문서 — Affiliate data gateway</title>
<link rel="stylesheet" href="{ASSETS}/swagger-ui.css">
<link rel="icon" type="image/png" href="{ASSETS}/favicon.png">
</head>
<body>
<div id="swagger-ui"></div>
<script src="{ASSETS}/swagger-ui-bundle.js"></script>
<script src="/docs/init.js"></script>
</body>
</html>
"""

# in a file of its own, not inline: the page's Content-Security-Policy allows no inline script
_INIT = """window.ui = SwaggerUIBundle({
  url: "/openapi.json",
  dom_id: "#swagger-ui",
  deepLinking: true,
  presets: [SwaggerUIBundle.presets.apis],
  layout: "BaseLayout"
});
"""

_REDOC = f"""<!doctype html>
<html lang="ko">
<head>
<meta charset="utf-8">
<title>API 문서 (ReDoc) — Affiliate data gateway</title>
<link rel="icon" type="image/png" href="{ASSETS}/favicon.png">
</head>
<body>
<redoc spec-url="/openapi.json"></redoc>
<script src="{ASSETS}/redoc.standalone.js"></script>
</body>
</html>
"""

_CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; font-src 'self' data:; worker-src 'self' blob:; "
        "frame-ancestors 'none'")


@router.get("/docs", response_class=HTMLResponse)
async def docs() -> Response:
    return HTMLResponse(_SWAGGER, headers={"Content-Security-Policy": _CSP})


@router.get("/docs/init.js")
async def docs_init() -> Response:
    return Response(_INIT, media_type="text/javascript; charset=utf-8")


@router.get("/redoc", response_class=HTMLResponse)
async def redoc() -> Response:
    return HTMLResponse(_REDOC, headers={"Content-Security-Policy": _CSP})
