"""Reading the request body under the configured size limit, chunked uploads included.

The one place the limit is looked up: the request's own (`MNIST_SERVE_MAX_BODY_BYTES` through
Flask's MAX_CONTENT_LENGTH, unless a blueprint raised it, as `/predict/image` does). Plain and
decompressed bodies are held to the same number.
"""

from __future__ import annotations

from flask import request

from mnist_serve.errors import PayloadTooLarge


def body_limit() -> int:
    """The largest body this request may have, in bytes."""
    return request.max_content_length


def read_body() -> bytes:
    """The whole body, or 413. Werkzeug stops a chunked body silently at the limit; we refuse it."""
    body = request.get_data(cache=False)
    limit = body_limit()
    if request.content_length is None and len(body) >= limit:
        raise PayloadTooLarge(
            f"request body is larger than the limit of {limit} bytes", limit_bytes=limit
        )
    return body
