"""`GET /docs`: Swagger UI rendering `/openapi.json`, every asset served from this server.

The Swagger UI files come from the pinned `flask-swagger-ui` package (only its files, not its
blueprint); the page and its start-up script are ours. A Content-Security-Policy of 'self'
makes the browser refuse anything from elsewhere, so the page works with no network.
"""

from __future__ import annotations

from importlib.metadata import version
from importlib.resources import files
from pathlib import Path

from flask import Blueprint, Response, send_from_directory, url_for

from mnist_serve.errors import ServeError

bp = Blueprint("docs", __name__)

SWAGGER_UI_DIST = Path(str(files("flask_swagger_ui") / "dist"))
SWAGGER_UI_VERSION = version("flask-swagger-ui")
INIT_SCRIPT = "docs-init.js"
# The files the page loads, with the types we serve them as (not guessed from the OS).
ASSETS = {
    "swagger-ui-bundle.js": "text/javascript",
    "swagger-ui.css": "text/css",
    "index.css": "text/css",
    "favicon-32x32.png": "image/png",
    "favicon-16x16.png": "image/png",
    INIT_SCRIPT: "text/javascript",
}
CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
    "script-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'self'"
)

_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>mnist-serve API</title>
  <meta name="swagger-ui-version" content="{swagger_version}">
  <link rel="stylesheet" href="{css}">
  <link rel="stylesheet" href="{index_css}">
  <link rel="icon" type="image/png" href="{icon32}" sizes="32x32">
  <link rel="icon" type="image/png" href="{icon16}" sizes="16x16">
</head>
<body>
  <div id="swagger-ui" data-openapi-url="{openapi}"></div>
  <script src="{bundle}"></script>
  <script src="{init}"></script>
</body>
</html>
"""

# No inline script (the CSP forbids it): the document's URL travels in a data attribute.
_INIT_JS = """window.addEventListener("load", function () {
  var root = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: root.dataset.openapiUrl,
    domNode: root,
    deepLinking: true,
    layout: "BaseLayout",
    presets: [SwaggerUIBundle.presets.apis],
    validatorUrl: null,
    tryItOutEnabled: true,
    displayRequestDuration: true,
  });
});
"""


def _asset_url(filename: str) -> str:
    return url_for("docs.asset", filename=filename)


@bp.get("/docs", strict_slashes=False)  # /docs/ too: asset URLs are absolute
def page():
    html = _PAGE.format(
        swagger_version=SWAGGER_UI_VERSION,
        css=_asset_url("swagger-ui.css"),
        index_css=_asset_url("index.css"),
        icon32=_asset_url("favicon-32x32.png"),
        icon16=_asset_url("favicon-16x16.png"),
        openapi=url_for("openapi.document"),
        bundle=_asset_url("swagger-ui-bundle.js"),
        init=_asset_url(INIT_SCRIPT),
    )
    response = Response(html, mimetype="text/html")
    response.headers["Content-Security-Policy"] = CSP
    return response


@bp.get("/docs/assets/<filename>")
def asset(filename: str):
    mimetype = ASSETS.get(filename)
    if mimetype is None:
        raise ServeError(
            f"no docs asset named {filename!r}", status_code=404, available=sorted(ASSETS)
        )
    if filename == INIT_SCRIPT:
        response = Response(_INIT_JS, mimetype=mimetype)
    else:
        response = send_from_directory(SWAGGER_UI_DIST, filename, mimetype=mimetype, max_age=3600)
    response.headers["Content-Security-Policy"] = CSP
    return response
