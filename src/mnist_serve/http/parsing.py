"""Request bytes -> validated float32 (n, 784) in [0, 1], or an `InvalidInput` saying what is wrong.

Validation is exact and cheap: one C-level pass over element types, one numpy range check.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson

from mnist_serve.data import IMAGE_SHAPE, N_PIXELS, scale_pixels
from mnist_serve.errors import InvalidInput, PayloadTooLarge, UnsupportedMediaType

_NUMBER_TYPES = frozenset((int, float))
JSON_TYPES = ("application/json",)
BINARY_TYPES = ("application/octet-stream",)


def _type_name(value: Any) -> str:
    return {
        type(None): "null",
        bool: "boolean",
        str: "string",
        dict: "object",
        list: "array",
        int: "number",
        float: "number",
    }.get(type(value), type(value).__name__)


def _preview(value: Any) -> Any:
    """The offending value, short enough to echo back safely."""
    if isinstance(value, str):
        return value[:40]
    if isinstance(value, (list, dict)):
        return f"<{_type_name(value)} of {len(value)}>"
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > 10**12:
        return f"<{len(str(abs(value)))}-digit number>"
    return value


def parse_json(body: bytes) -> Any:
    if not body:
        raise InvalidInput('request body is empty; send a JSON object like {"image_vector": [...]}')
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidInput(f"request body is not valid JSON: {exc}") from None


def _flat_pixels(value: Any, field: str) -> list:
    """The 784 pixel values of one image, accepting flat [784] or nested [28][28]."""
    if not isinstance(value, list):
        raise InvalidInput(
            f"{field} must be an array of 784 numbers (or 28 arrays of 28), "
            f"got {_type_name(value)}",
            field=field,
        )
    if len(value) == N_PIXELS:
        return value
    rows, cols = IMAGE_SHAPE
    if len(value) == rows and all(type(row) is list for row in value):
        for r, row in enumerate(value):
            if len(row) != cols:
                raise InvalidInput(
                    f"{field}[{r}] has {len(row)} values; each of the 28 rows needs 28",
                    field=f"{field}[{r}]",
                )
        return [v for row in value for v in row]
    raise InvalidInput(
        f"{field} has {len(value)} elements; expected 784 numbers or 28 rows of 28",
        field=field,
        length=len(value),
    )


def _check_types(pixels: list, field: str) -> None:
    if set(map(type, pixels)) <= _NUMBER_TYPES:
        return
    for i, v in enumerate(pixels):
        if type(v) not in _NUMBER_TYPES:
            raise InvalidInput(
                f"{field}[{i}] must be a number 0..255, got {_type_name(v)}",
                field=field,
                index=i,
                value=_preview(v),
            )


def _check_range(pixels: np.ndarray, source: list, field: str) -> None:
    if pixels.min() >= 0 and pixels.max() <= 255:  # the common case, without temporaries
        return
    bad = np.flatnonzero(~((pixels >= 0) & (pixels <= 255)))  # NaN counts as bad too
    i = int(bad[0])
    raise InvalidInput(
        f"{field}[{i}] is out of range: pixel values must be 0..255",
        field=field,
        index=i,
        value=_preview(source[i]),
        count=int(bad.size),
    )


def _numbers_to_array(pixels: list, field: str, may_hold_booleans: bool) -> np.ndarray:
    """A list that must hold only numbers -> a numeric array, or InvalidInput naming the culprit.

    Fast path: numpy builds an int/float array only from numbers and booleans, so when the body
    holds no `true`/`false` token at all, one `np.array` call is the whole type check.
    """
    if not may_hold_booleans:
        try:
            array = np.array(pixels)
        except (ValueError, TypeError):  # ragged nesting: the exact check below names it
            array = None
        if array is not None and array.dtype.kind in "if" and array.ndim == 1:
            return array
    _check_types(pixels, field)
    try:
        return np.array(pixels, dtype=np.float64)
    except OverflowError:
        # Python ints beyond float range: find the culprit for the message.
        for i, v in enumerate(pixels):
            if isinstance(v, int) and abs(v) > 255:
                raise InvalidInput(
                    f"{field}[{i}] is out of range: pixel values must be 0..255",
                    field=field,
                    index=i,
                    value=_preview(v),
                ) from None
        raise


def image_from_json(value: Any, field: str, may_hold_booleans: bool = True) -> np.ndarray:
    """One image's JSON value -> (784,) grey levels (int or float), validated."""
    pixels = _flat_pixels(value, field)
    array = _numbers_to_array(pixels, field, may_hold_booleans)
    _check_range(array, pixels, field)
    return array


def images_from_document(
    doc: Any, max_batch: int, may_hold_booleans: bool = True
) -> tuple[np.ndarray, bool]:
    """A parsed JSON body -> (float32 (n, 784) in [0, 1], whether the caller sent a batch)."""
    if not isinstance(doc, dict):
        raise InvalidInput(
            f'request body must be a JSON object like {{"image_vector": [...]}}, '
            f"got {_type_name(doc)}"
        )
    has_one, has_many = "image_vector" in doc, "image_vectors" in doc
    if has_one and has_many:
        raise InvalidInput("send either image_vector or image_vectors, not both")
    if has_one:
        image = image_from_json(doc["image_vector"], "image_vector", may_hold_booleans)
        return scale_pixels(image[None, :]), False
    if has_many:
        images = doc["image_vectors"]
        if not isinstance(images, list) or not images:
            raise InvalidInput(
                "image_vectors must be a non-empty array of images", field="image_vectors"
            )
        if len(images) > max_batch:
            raise PayloadTooLarge(
                f"image_vectors has {len(images)} images; at most {max_batch} per request",
                field="image_vectors",
                max_batch=max_batch,
            )
        rows = [
            image_from_json(img, f"image_vectors[{k}]", may_hold_booleans)
            for k, img in enumerate(images)
        ]
        return scale_pixels(np.stack(rows)), True
    raise InvalidInput(
        'missing field image_vector: send {"image_vector": [784 numbers 0..255]}',
        field="image_vector",
        keys=sorted(doc)[:10],
    )


def images_from_binary(body: bytes, max_batch: int) -> tuple[np.ndarray, bool]:
    """Raw uint8 pixels, 784 bytes per image -> (float32 (n, 784), whether n > 1)."""
    if not body or len(body) % N_PIXELS:
        raise InvalidInput(
            f"binary body has {len(body)} bytes; expected a multiple of 784 (uint8 pixels per image)",
            length=len(body),
        )
    n = len(body) // N_PIXELS
    if n > max_batch:
        raise PayloadTooLarge(
            f"binary body holds {n} images; at most {max_batch} per request", max_batch=max_batch
        )
    pixels = np.frombuffer(body, dtype=np.uint8).reshape(n, N_PIXELS)
    return scale_pixels(pixels), n > 1


def images_from_request(mimetype: str, body: bytes, max_batch: int) -> tuple[np.ndarray, bool]:
    """Dispatch on the Content-Type: JSON (the seed's form) or raw bytes."""
    if mimetype in JSON_TYPES or mimetype.endswith("+json"):
        # Booleans are the one non-number numpy would take as numbers: look for them only
        # when the raw body could contain one.
        may_hold_booleans = b"true" in body or b"false" in body
        return images_from_document(parse_json(body), max_batch, may_hold_booleans)
    if mimetype in BINARY_TYPES:
        return images_from_binary(body, max_batch)
    raise UnsupportedMediaType(
        f"unsupported Content-Type {mimetype or '(none)'!r}; use application/json "
        "or application/octet-stream",
        content_type=mimetype,
    )
