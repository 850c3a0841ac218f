"""The Flask application factory: settings in, one blueprint per protocol registered."""

from __future__ import annotations

from flask import Flask

from mnist_serve import metrics
from mnist_serve.config import Settings, process_settings
from mnist_serve.logs import configure_app_logging
from mnist_serve.runtime import ModelRegistry


def create_app(settings: Settings | None = None, registry: ModelRegistry | None = None) -> Flask:
    """Build the app; loads and warms the models unless a registry is passed in."""
    settings = settings or process_settings()
    # No app-wide static folder: the page's files belong to the `ui` blueprint.
    app = Flask(__name__, static_folder=None)
    # SETTINGS is the one copy the blueprints read. MAX_CONTENT_LENGTH is Flask's own knob
    # (it enforces the body limit).
    app.config.update(SETTINGS=settings, MAX_CONTENT_LENGTH=settings.max_body_bytes)
    if registry is None:
        # Before loading: a refused version is logged like every other line of the app.
        configure_app_logging(settings.log_level)
        observer = metrics.metrics().observe_inference if settings.metrics else None
        registry = ModelRegistry.load(settings.model_dir, settings.precision, observer=observer)
    app.extensions["mnist_registry"] = registry

    from mnist_serve.http import (
        auth,
        docs,
        errors,
        health,
        image,
        openapi,
        seed,
        telemetry,
        tfserving,
        ui,
        v2,
    )

    errors.init_app(app)
    # Request ids, Prometheus metrics and /metrics, and the model-version poller.
    telemetry.init_app(app, settings)
    auth.init_app(app, settings.token())
    app.register_blueprint(seed.bp)
    app.register_blueprint(health.bp)
    # Images in (PNG/JPEG/GIF/BMP) and the drawing page that uses them.
    app.register_blueprint(image.bp)
    app.register_blueprint(ui.bp)
    # Peer protocols: each a thin adapter over the same registry.
    app.register_blueprint(v2.bp)
    app.register_blueprint(tfserving.bp)
    # The OpenAPI document of all of the above, and its viewer.
    app.register_blueprint(openapi.bp)
    app.register_blueprint(docs.bp)
    return app
