"""``/docs``: an interactive reference of ``/openapi.json`` (Swagger UI), served by the API itself.

Swagger UI's files come from the ``drf-spectacular-sidecar`` wheel (its own distribution of
``swagger-ui-dist``), read from the installed package and served under ``/docs/assets/``; the page
and its start-up script are ours. Nothing is loaded from anywhere else: the page's
Content-Security-Policy allows this origin only, so an operator's browser never calls out to a
CDN (or Swagger's online validator, turned off below) to read the reference.

Like ``/openapi.json`` these need no key; "Authorize" in the page takes the two headers the API
wants and "Try it out" sends real requests to this API.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

# Where the wheel keeps Swagger UI (found without importing the package, which imports Django).
ASSETS_PACKAGE = ("drf_spectacular_sidecar", "static/drf_spectacular_sidecar/swagger-ui-dist")

# Relative URLs: the page works under whatever prefix a proxy serves the API at.
_PAGE = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>Pushflow API reference</title>
  <link rel="icon" href="docs/assets/favicon-32x32.png">
  <link rel="stylesheet" href="docs/assets/swagger-ui.css">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="docs/assets/swagger-ui-bundle.js"></script>
  <script src="docs/start.js"></script>
</body>
</html>
"""

_START = """window.ui = SwaggerUIBundle({
  url: "openapi.json",
  dom_id: "#swagger-ui",
  deepLinking: true,
  validatorUrl: null,
  presets: [SwaggerUIBundle.presets.apis],
});
"""

# Swagger UI sets inline styles and shows inline SVG/data: images; everything else is this origin.
_POLICY = ("default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
           "frame-ancestors 'none'")


async def page(request: Request) -> Response:
    return HTMLResponse(_PAGE, headers={"Content-Security-Policy": _POLICY})


async def start_script(request: Request) -> Response:
    return Response(_START, media_type="text/javascript")


routes: list[BaseRoute] = [
    Route("/docs", page, methods=["GET"], include_in_schema=False),
    Route("/docs/start.js", start_script, methods=["GET"], include_in_schema=False),
    Mount("/docs/assets", StaticFiles(packages=[ASSETS_PACKAGE]), name="docs-assets"),
]
