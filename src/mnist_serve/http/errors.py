"""One JSON error shape for everything: our own errors, Werkzeug's (404, 405, 413), and bugs."""

from __future__ import annotations

import logging

from flask import Flask, request
from werkzeug.exceptions import HTTPException

from mnist_serve.errors import ServeError
from mnist_serve.http.responses import json_response

log = logging.getLogger(__name__)


def init_app(app: Flask) -> None:
    @app.errorhandler(ServeError)
    def serve_error(exc: ServeError):
        return json_response(exc.to_dict(), exc.status_code)

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        body = {"error": exc.description or exc.name, "status": exc.code}
        if exc.code == 413:
            # The request's own limit: a blueprint may raise the app's (images do).
            limit = request.max_content_length
            body["error"] = f"request body is larger than the limit of {limit} bytes"
            body["limit_bytes"] = limit
        response = json_response(body, exc.code or 500)
        if exc.code == 405 and exc.valid_methods:  # keep the Allow header of a 405
            response.headers["Allow"] = ", ".join(exc.valid_methods)
        return response

    @app.errorhandler(Exception)
    def unexpected(exc: Exception):
        log.exception("unhandled error")
        return json_response({"error": "internal error", "type": type(exc).__name__}, 500)
