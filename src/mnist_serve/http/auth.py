"""Optional bearer token (MNIST_SERVE_API_TOKEN or _FILE): off unless set.

Everything needs `Authorization: Bearer <token>` except what probes, browsers and API
readers fetch before they could know a token: health, the drawing page and its files, the
API docs. The comparison is constant-time (hmac.compare_digest) so timing reveals nothing.
"""

from __future__ import annotations

import hmac
from typing import Any

from flask import Flask, request
from werkzeug.exceptions import HTTPException

from mnist_serve.http.responses import json_response

# Flask endpoints (blueprint.function) and whole blueprints that stay open with a token set.
# `telemetry` is GET /metrics: scraped like a probe (Kubernetes' annotations send no token),
# and it carries counts and timings, never inputs or answers.
OPEN_ENDPOINTS = frozenset({"v2.server_live", "v2.server_ready", "v2.model_ready"})
OPEN_BLUEPRINTS = frozenset({"health", "ui", "docs", "openapi", "telemetry"})


def is_open(endpoint: str | None) -> bool:
    if endpoint is None:
        return False
    return endpoint in OPEN_ENDPOINTS or endpoint.split(".", 1)[0] in OPEN_BLUEPRINTS


def init_app(app: Flask, token: str | None) -> None:
    """Register the check only when a token is configured: unset costs nothing per request."""
    if token is None:
        return
    expected = token.encode()

    @app.before_request
    def _require_bearer_token():
        if is_open(request.endpoint):
            return None
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), expected):
            return None
        if scheme:
            message = "the bearer token is not valid"
            challenge = 'Bearer realm="mnist-serve", error="invalid_token"'
        else:
            message = "this endpoint needs an Authorization: Bearer <token> header"
            challenge = 'Bearer realm="mnist-serve"'
        response = json_response({"error": message, "status": 401}, 401)
        response.headers["WWW-Authenticate"] = challenge
        return response


# --- how the token shows in the OpenAPI document -----------------------------------------

UNAUTHORIZED = {
    "description": "MNIST_SERVE_API_TOKEN is set and the request has no valid "
    "`Authorization: Bearer <token>` header (`WWW-Authenticate: Bearer` says so).",
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
}


def _endpoint(app: Flask, path: str, method: str, model: str) -> str | None:
    """The Flask endpoint a documented path reaches (path parameters filled with real values)."""
    url = path.replace("{model_name}", model).replace("{model_version}", "1")
    try:
        endpoint, _ = app.url_map.bind("localhost").match(
            url.replace("{filename}", "x"), method=method.upper()
        )
    except HTTPException:
        return None
    return endpoint


def documented(document: dict[str, Any], app: Flask) -> dict[str, Any]:
    """The OpenAPI document with a bearer scheme, and `security` plus a 401 on every operation
    the token guards, judged by the rule the server applies (`is_open` on the routed endpoint)."""
    model = document["components"]["parameters"]["ModelName"]["schema"]["enum"][0]
    paths: dict[str, Any] = {}
    for path, item in document["paths"].items():
        paths[path] = {}
        for method, operation in item.items():
            if not is_open(_endpoint(app, path, method, model)):
                responses = {
                    **operation["responses"],
                    "401": {"$ref": "#/components/responses/E401"},
                }
                operation = {**operation, "security": [{"bearer": []}], "responses": responses}
            paths[path][method] = operation
    components = {
        **document["components"],
        "responses": {**document["components"]["responses"], "E401": UNAUTHORIZED},
        "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
    }
    return {**document, "paths": paths, "components": components}
