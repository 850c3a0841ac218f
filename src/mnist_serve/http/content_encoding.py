"""Compressed request bodies (`Content-Encoding: gzip` or `deflate`), as tritonclient can send.

The decompressed size is held to the same limit as a plain body, so a small compressed
request cannot expand into a large allocation.
"""

from __future__ import annotations

import zlib

from flask import request

from mnist_serve.errors import InvalidInput, PayloadTooLarge, UnsupportedMediaType
from mnist_serve.http.body import body_limit, read_body

# wbits: gzip wrapper; zlib wrapper (what "deflate" means in HTTP); raw deflate as a fallback.
_GZIP, _ZLIB, _RAW = 16 + zlib.MAX_WBITS, zlib.MAX_WBITS, -zlib.MAX_WBITS
SUPPORTED = ("gzip", "deflate", "identity")


def _inflate(body: bytes, wbits: int, limit: int) -> bytes:
    inflater = zlib.decompressobj(wbits)
    out = inflater.decompress(body, limit + 1)
    if len(out) > limit or inflater.unconsumed_tail:
        raise PayloadTooLarge(
            f"decompressed request body is larger than the limit of {limit} bytes",
            limit_bytes=limit,
        )
    if not inflater.eof:
        raise zlib.error("compressed data is truncated")
    return out


def read_decoded_body() -> bytes:
    """The request body, decompressed when `Content-Encoding` says so, within the size limit."""
    body = read_body()
    encoding = request.headers.get("Content-Encoding", "").strip().lower()
    if encoding in ("", "identity"):
        return body
    limit = body_limit()
    try:
        if encoding in ("gzip", "x-gzip"):
            return _inflate(body, _GZIP, limit)
        if encoding == "deflate":
            try:
                return _inflate(body, _ZLIB, limit)
            except zlib.error:
                return _inflate(body, _RAW, limit)
    except zlib.error as exc:
        raise InvalidInput(f"request body is not valid {encoding} data: {exc}") from None
    raise UnsupportedMediaType(
        f"unsupported Content-Encoding {encoding!r}; use one of {', '.join(SUPPORTED)}",
        content_encoding=encoding,
    )
