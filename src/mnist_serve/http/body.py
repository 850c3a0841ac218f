"""Reading the request body under the configured size limit, chunked uploads included."""

from __future__ import annotations

from flask import current_app, request

from mnist_serve.errors import PayloadTooLarge


def read_body() -> bytes:
    """The whole body, or 413. Werkzeug stops a chunked body silently at the limit; we refuse it."""
    body = request.get_data(cache=False)
    limit = current_app.config["MAX_CONTENT_LENGTH"]
    if request.content_length is None and len(body) >= limit:
        raise PayloadTooLarge(
            f"request body is larger than the limit of {limit} bytes", limit_bytes=limit
        )
    return body
