"""`app` for Gunicorn: `gunicorn mnist_serve.wsgi:app` (or the root `wsgi:app`)."""

from mnist_serve.errors import ArtifactError
from mnist_serve.http import create_app
from mnist_serve.startup import artifact_failure

try:
    app = create_app()
except ArtifactError as exc:  # one line for the operator; the traceback at debug level
    artifact_failure(exc)
