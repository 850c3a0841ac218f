"""The seed's entry point, kept: `gunicorn --bind 0.0.0.0:8887 --workers=4 wsgi:app`."""

from mnist_serve.wsgi import app

__all__ = ["app"]
