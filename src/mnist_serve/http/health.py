"""Liveness and readiness: ready means every model is loaded, verified and warmed.

The app is built only after that (`create_app` loads the registry first, in the master with
preloading or in each worker before it accepts a connection), so readiness, once it answers at
all, is 200: there is no not-ready state to report yet.
"""

from __future__ import annotations

from flask import Blueprint, current_app

from mnist_serve.http.responses import json_response

bp = Blueprint("health", __name__)


@bp.get("/health/live")
def live():
    return json_response({"status": "alive"})


@bp.get("/health/ready")
def ready():
    registry = current_app.extensions["mnist_registry"]
    return json_response(
        {
            "status": "ready",
            "models": [{"name": m.name, "version": m.version} for m in registry.models],
        }
    )
