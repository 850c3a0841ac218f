"""Reading the request body under the configured size limit, chunked uploads included."""

from __future__ import annotations

from flask import request

from mnist_serve.errors import PayloadTooLarge


def read_body() -> bytes:
    """The whole body, or 413. Werkzeug stops a chunked body silently at the limit; we refuse it."""
    body = request.get_data(cache=False)
    # The request's own limit: the app's MAX_CONTENT_LENGTH unless a blueprint changed it.
    limit = request.max_content_length
    if request.content_length is None and len(body) >= limit:
        raise PayloadTooLarge(
            f"request body is larger than the limit of {limit} bytes", limit_bytes=limit
        )
    return body
