"""Optional bearer token (MNIST_SERVE_API_TOKEN or _FILE): off unless set.

Everything needs `Authorization: Bearer <token>` except what probes, browsers and API
readers fetch before they could know a token: health, the drawing page and its files, the
API docs. The comparison is constant-time (hmac.compare_digest) so timing reveals nothing.
"""

from __future__ import annotations

import hmac

from flask import Flask, request

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
