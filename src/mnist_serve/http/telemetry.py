"""What operators see of each request: its X-Request-ID, its metrics, and `GET /metrics`."""

from __future__ import annotations

import time

from flask import Blueprint, Flask, Response, g, request

from mnist_serve import metrics, rollout
from mnist_serve.config import Settings
from mnist_serve.logs import configure_app_logging, request_id_from

REQUEST_ID_HEADER = "X-Request-ID"

bp = Blueprint("telemetry", __name__)


@bp.get("/metrics")
def prometheus_metrics():
    return Response(metrics.render(), content_type=metrics.CONTENT_TYPE)


def init_app(app: Flask, settings: Settings) -> None:
    """Request ids always; metrics unless MNIST_SERVE_METRICS=false; the rollout watcher."""
    configure_app_logging(settings.log_level)
    recorder = metrics.metrics() if settings.metrics else None

    @app.before_request
    def _begin() -> None:
        g.request_id = request_id_from(request.headers.get(REQUEST_ID_HEADER))
        g.started = time.perf_counter()

    @app.after_request
    def _end(response: Response) -> Response:
        request_id = g.get("request_id")
        if request_id is not None:
            response.headers[REQUEST_ID_HEADER] = request_id
        if recorder is not None and "started" in g:
            rule = request.url_rule
            recorder.observe_request(
                rule.rule if rule is not None else metrics.UNROUTED,
                request.method,
                response.status_code,
                time.perf_counter() - g.started,
            )
        return response

    if recorder is not None:
        app.register_blueprint(bp)
    rollout.init_app(
        app,
        settings.model_poll_seconds,
        recorder.models_swapped if recorder is not None else None,
    )
