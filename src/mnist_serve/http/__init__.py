"""The Flask application factory: settings in, one blueprint per protocol registered."""

from __future__ import annotations

from flask import Flask

from mnist_serve.config import Settings, load_settings
from mnist_serve.runtime import ModelRegistry


def create_app(settings: Settings | None = None, registry: ModelRegistry | None = None) -> Flask:
    """Build the app; loads and warms the models unless a registry is passed in."""
    settings = settings or load_settings()
    # No app-wide static folder: the page's files belong to the `ui` blueprint.
    app = Flask(__name__, static_folder=None)
    app.config.update(
        MAX_CONTENT_LENGTH=settings.max_body_bytes,
        MAX_BATCH=settings.max_batch,
        SETTINGS=settings,
    )
    app.extensions["mnist_registry"] = registry or ModelRegistry.load(settings.model_dir)

    from mnist_serve.http import errors, health, image, seed, ui

    errors.init_app(app)
    app.register_blueprint(seed.bp)
    app.register_blueprint(health.bp)
    app.register_blueprint(image.bp)
    app.register_blueprint(ui.bp)
    return app
