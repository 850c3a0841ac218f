"""`app` for Gunicorn: `gunicorn mnist_serve.wsgi:app` (or the root `wsgi:app`)."""

from mnist_serve.http import create_app

app = create_app()
