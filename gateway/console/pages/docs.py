"""`/docs` offline: Swagger UI served from the `swagger-ui-bundle` package, no CDN.

Bank networks are separated from the internet (망분리), so FastAPI's default page, which
loads Swagger UI from a CDN, is blank there. The page, its start-up script and the assets all
come from this process. (ReDoc ships in no Python package, so `/redoc` is not served.)
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response
from swagger_ui_bundle import swagger_ui_path

router = APIRouter(tags=["docs"], include_in_schema=False)

ASSETS = "/docs/assets"
ASSETS_DIR = swagger_ui_path  # the package's vendored Swagger UI (Apache-2.0, with its licence)

_PAGE = f"""<!doctype html>
<html lang="ko">
<head>
<meta charset="utf-8">
<title>API 문서 — Affiliate data gateway</title>
<link rel="stylesheet" href="{ASSETS}/swagger-ui.css">
<link rel="icon" type="image/png" href="{ASSETS}/favicon-32x32.png">
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

_CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; frame-ancestors 'none'")


@router.get("/docs", response_class=HTMLResponse)
async def docs() -> Response:
    return HTMLResponse(_PAGE, headers={"Content-Security-Policy": _CSP})


@router.get("/docs/init.js")
async def docs_init() -> Response:
    return Response(_INIT, media_type="text/javascript; charset=utf-8")
