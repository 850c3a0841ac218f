"""Read by Gunicorn when started from the project root (`gunicorn wsgi:app`)."""

from mnist_serve.gunicorn_conf import *  # noqa: F403
