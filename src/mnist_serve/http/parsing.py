"""Request bytes -> validated float32 (n, 784) in [0, 1], or an `InvalidInput` saying what is wrong.

The one owner of the pixel rules every protocol shares: JSON parsing, element types, the
0..255 range and the batch limit. The seed endpoint, TF Serving and KServe V2 (`tensors.py`)
call these functions; none has its own copy. Validation is exact and cheap: one C-level pass
over element types, one numpy range check.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import orjson

from mnist_serve.data import IMAGE_SHAPE, N_PIXELS, scale_pixels
from mnist_serve.errors import InvalidInput, PayloadTooLarge, UnsupportedMediaType

NUMBER_TYPES = frozenset((int, float))
JSON_TYPES = ("application/json",)
BINARY_TYPES = ("application/octet-stream",)
SEED_EXAMPLE = '{"image_vector": [...]}'

# Where a flat index of a checked array falls, as extra fields of the error (field and index
# at least); each protocol passes its own.
Locate = Callable[[int, str], dict[str, Any]]


def json_type_name(value: Any) -> str:
    """The JSON name of a parsed value's type, for error messages."""
    if value is None:
        return "null"
    return {bool: "boolean", str: "string", dict: "object", list: "array"}.get(
        type(value), "number"
    )


def _preview(value: Any) -> Any:
    """The offending value, short enough to echo back safely."""
    if isinstance(value, str):
        return value[:40]
    if isinstance(value, (list, dict)):
        return f"<{json_type_name(value)} of {len(value)}>"
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > 10**12:
        return f"<{len(str(abs(value)))}-digit number>"
    return value


def _at(index: int, field: str) -> dict[str, Any]:
    return {"field": field, "index": index}


def parse_json(body: bytes, what: str = "request body", example: str = SEED_EXAMPLE) -> Any:
    """JSON bytes -> a parsed document; `what` and `example` word the errors per protocol."""
    if not body:
        raise InvalidInput(f"{what} is empty; send a JSON object like {example}")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidInput(f"{what} is not valid JSON: {exc}") from None


def parse_object(body: bytes, what: str = "request body", example: str = SEED_EXAMPLE) -> dict:
    """JSON bytes that must hold an object."""
    doc = parse_json(body, what, example)
    if not isinstance(doc, dict):
        raise InvalidInput(
            f"{what} must be a JSON object like {example}, got {json_type_name(doc)}"
        )
    return doc


def check_batch_size(n: int, max_batch: int, field: str) -> None:
    """n images: at least one, at most `max_batch` (413 beyond, on every endpoint)."""
    if n < 1:
        raise InvalidInput(
            f"{field} must hold 1 to {max_batch} images, got {n}", field=field, max_batch=max_batch
        )
    if n > max_batch:
        raise PayloadTooLarge(
            f"{field} holds {n} images; at most {max_batch} per request",
            field=field,
            max_batch=max_batch,
        )


def check_numbers(values: list, field: str, locate: Locate = _at) -> None:
    """Every element a JSON number (not a boolean, string, null, array or object)."""
    if set(map(type, values)) <= NUMBER_TYPES:
        return
    for i, v in enumerate(values):
        if type(v) not in NUMBER_TYPES:
            raise InvalidInput(
                f"{field}[{i}] must be a number 0..255, got {json_type_name(v)}",
                value=_preview(v),
                **locate(i, field),
            )


def check_range(pixels: np.ndarray, field: str, source: Any = None, locate: Locate = _at) -> None:
    """Every value within 0..255 (NaN fails too); `source` is what the caller sent, if at hand."""
    flat = pixels.reshape(-1)
    if flat.size and flat.min() >= 0 and flat.max() <= 255:  # the common case, no temporaries
        return
    bad = np.flatnonzero(~((flat >= 0) & (flat <= 255)))
    if not bad.size:
        return
    i = int(bad[0])
    value = _preview(source[i] if source is not None else flat[i].item())
    raise InvalidInput(
        f"{field}[{i}] is {value}, out of range: pixel values must be 0..255",
        value=value,
        count=int(bad.size),
        **locate(i, field),
    )


def numbers_array(
    values: list, field: str, may_hold_booleans: bool = True, locate: Locate = _at
) -> np.ndarray:
    """A flat list that must hold only numbers -> a float/int array, or InvalidInput naming the
    culprit (a wrong type, or an integer too big for any float).

    Fast path: numpy builds an int/float array only from numbers and booleans, so when the body
    holds no `true`/`false` token at all, one `np.array` call is the whole type check.
    """
    if not may_hold_booleans:
        try:
            array = np.array(values)
        except (ValueError, TypeError, OverflowError):  # the exact checks below name it
            array = None
        if array is not None and array.dtype.kind in "if" and array.ndim == 1:
            return array
    check_numbers(values, field, locate)
    try:
        return np.array(values, dtype=np.float64)
    except OverflowError:
        # Python ints beyond float range: find the culprit for the message.
        for i, v in enumerate(values):
            if isinstance(v, int) and abs(v) > 255:
                raise InvalidInput(
                    f"{field}[{i}] is {_preview(v)}, out of range: pixel values must be 0..255",
                    value=_preview(v),
                    **locate(i, field),
                ) from None
        raise


def _flat_pixels(value: Any, field: str) -> list:
    """The 784 pixel values of one image, accepting flat [784] or nested [28][28]."""
    if not isinstance(value, list):
        raise InvalidInput(
            f"{field} must be an array of 784 numbers (or 28 arrays of 28), "
            f"got {json_type_name(value)}",
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


def image_from_json(value: Any, field: str, may_hold_booleans: bool = True) -> np.ndarray:
    """One image's JSON value -> (784,) grey levels (int or float), validated."""
    pixels = _flat_pixels(value, field)
    array = numbers_array(pixels, field, may_hold_booleans)
    check_range(array, field, pixels)
    return array


def images_from_list(
    images: list,
    field: str,
    max_batch: int,
    may_hold_booleans: bool = True,
    unwrap: Callable[[Any, str], tuple[Any, str]] | None = None,
) -> np.ndarray:
    """A JSON list of images (each flat or 28x28) -> float32 (n, 784) in [0, 1]. `unwrap` lets a
    protocol take each entry out of its own envelope first (TF Serving's {input: image})."""
    check_batch_size(len(images), max_batch, field)
    rows = []
    for k, image in enumerate(images):
        where = f"{field}[{k}]"
        if unwrap is not None:
            image, where = unwrap(image, where)
        rows.append(image_from_json(image, where, may_hold_booleans))
    return scale_pixels(np.stack(rows))


def images_from_document(
    doc: Any, max_batch: int, may_hold_booleans: bool = True
) -> tuple[np.ndarray, bool]:
    """A parsed seed-format body -> (float32 (n, 784) in [0, 1], whether the caller sent a batch)."""
    if not isinstance(doc, dict):
        raise InvalidInput(
            f"request body must be a JSON object like {SEED_EXAMPLE}, got {json_type_name(doc)}"
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
        return images_from_list(images, "image_vectors", max_batch, may_hold_booleans), True
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
    check_batch_size(n, max_batch, "binary body")
    pixels = np.frombuffer(body, dtype=np.uint8).reshape(n, N_PIXELS)
    return scale_pixels(pixels), n > 1


def may_hold_booleans(body: bytes) -> bool:
    """Booleans are the one non-number numpy would take as numbers: look for them only when
    the raw body could contain one."""
    return b"true" in body or b"false" in body


def images_from_request(mimetype: str, body: bytes, max_batch: int) -> tuple[np.ndarray, bool]:
    """Dispatch on the Content-Type: JSON (the seed's form) or raw bytes."""
    if mimetype in JSON_TYPES or mimetype.endswith("+json"):
        return images_from_document(parse_json(body), max_batch, may_hold_booleans(body))
    if mimetype in BINARY_TYPES:
        return images_from_binary(body, max_batch)
    raise UnsupportedMediaType(
        f"unsupported Content-Type {mimetype or '(none)'!r}; use application/json "
        "or application/octet-stream",
        content_type=mimetype,
    )
