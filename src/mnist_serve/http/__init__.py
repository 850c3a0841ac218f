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
    app.extensions["mnist_registry"] = registry or ModelRegistry.load(
        settings.model_dir, settings.precision
    )

    from mnist_serve.http import docs, errors, health, image, openapi, seed, tfserving, ui, v2

    errors.init_app(app)
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
