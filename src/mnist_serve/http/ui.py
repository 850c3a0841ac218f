"""`GET /`: a page to draw or upload a digit and see both models' answers.

Plain HTML, CSS and JavaScript from the package's `static/` folder: nothing from a CDN, no
build step. The page calls `POST /predict/image`, so it exercises the same path as any client.
"""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, Response

STATIC = Path(__file__).resolve().parent.parent / "static"

bp = Blueprint("ui", __name__, static_folder=STATIC, static_url_path="/static")

# Everything comes from this origin; the page needs no inline script or style.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'; "
        "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


@bp.get("/")
def index():
    return bp.send_static_file("index.html")


@bp.after_request
def _security_headers(response: Response) -> Response:
    response.headers.update(SECURITY_HEADERS)
    return response
