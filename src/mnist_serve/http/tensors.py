"""Tensors of the peer protocols (KServe V2, TF Serving) -> validated float32 (n, 784) in [0, 1].

Both protocols send pixel values 0..255 as a batch of images, each flat (784) or 28 rows of 28;
this module checks shape, element types and range once, and says exactly what is wrong.
"""

from __future__ import annotations

from itertools import chain
from typing import Any

import numpy as np

from mnist_serve.data import IMAGE_SHAPE, N_CLASSES, N_PIXELS, scale_pixels
from mnist_serve.errors import InvalidInput, PayloadTooLarge

# Every protocol offers the model's probabilities output plus the argmax as this output.
LABEL_OUTPUT = "label"

# KServe V2 datatypes we accept for the pixel tensor, as little-endian numpy dtypes (the
# binary tensor extension sends raw little-endian bytes). BOOL, BYTES and BF16 make no sense
# for pixel values.
V2_DTYPES: dict[str, np.dtype] = {
    name: np.dtype(code)
    for name, code in {
        "UINT8": "<u1",
        "UINT16": "<u2",
        "UINT32": "<u4",
        "UINT64": "<u8",
        "INT8": "<i1",
        "INT16": "<i2",
        "INT32": "<i4",
        "INT64": "<i8",
        "FP16": "<f2",
        "FP32": "<f4",
        "FP64": "<f8",
    }.items()
}
ACCEPTED_SHAPES = "[n, 784] or [n, 28, 28]"
_NUMBER_TYPES = frozenset((int, float))


def json_type_name(value: Any) -> str:
    """The JSON name of a parsed value's type, for error messages."""
    if value is None:
        return "null"
    return {bool: "boolean", str: "string", dict: "object", list: "array"}.get(
        type(value), "number"
    )


def as_int(value: Any) -> int | None:
    """A JSON integer, or None. 3.0 counts (JSON Schema's integer does), 3.5 and true do not."""
    if type(value) is int:
        return value
    if type(value) is float and value.is_integer():
        return int(value)
    return None


def check_batch_size(n: int, max_batch: int, field: str) -> None:
    """n images: at least one, at most `max_batch` (413, as on the seed endpoint)."""
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


def check_shape(shape: Any, field: str, max_batch: int) -> tuple[int, ...]:
    """A V2 `shape`: a list of integers equal to [n, 784] or [n, 28, 28]."""
    dims = [as_int(d) for d in shape] if isinstance(shape, list) else [None]
    if None in dims:
        raise InvalidInput(f"{field} must be an array of integers, e.g. [1, 784]", field=field)
    shape = dims
    if tuple(shape[1:]) not in ((N_PIXELS,), IMAGE_SHAPE):
        raise InvalidInput(
            f"{field} is {shape}; expected {ACCEPTED_SHAPES} (a batch of 28x28 images)",
            field=field,
            shape=shape,
        )
    check_batch_size(shape[0], max_batch, field + "[0]")
    return tuple(shape)


def flatten_json_array(data: Any, field: str, max_depth: int) -> list:
    """A JSON array of numbers, flat or nested up to `max_depth` levels, in row-major order."""
    if not isinstance(data, list):
        raise InvalidInput(
            f"{field} must be an array of numbers (flat or nested), got {json_type_name(data)}",
            field=field,
        )
    flat = data
    for depth in range(max_depth + 1):
        if not flat or type(flat[0]) is not list:
            return flat
        if depth == max_depth:
            break
        if any(type(v) is not list for v in flat):
            raise InvalidInput(f"{field} mixes arrays and numbers at one level", field=field)
        if len(set(map(len, flat))) > 1:
            raise InvalidInput(f"{field} is ragged: nested arrays differ in length", field=field)
        flat = list(chain.from_iterable(flat))
    raise InvalidInput(f"{field} is nested deeper than its shape allows", field=field)


def _position(index: int, field: str) -> dict[str, Any]:
    """Where a flat row-major index falls: which image, which pixel."""
    return {"field": field, "index": index, "image": index // N_PIXELS, "pixel": index % N_PIXELS}


def check_pixel_range(pixels: np.ndarray, field: str) -> None:
    """Every value finite and within 0..255 (NaN fails the comparison too)."""
    flat = pixels.reshape(-1)
    bad = np.flatnonzero(~((flat >= 0) & (flat <= 255)))
    if bad.size:
        i = int(bad[0])
        raise InvalidInput(
            f"{field}[{i}] is {flat[i].item()!r}, out of range: pixel values must be 0..255",
            count=int(bad.size),
            **_position(i, field),
        )


def pixels_from_json_data(
    data: Any, shape: tuple[int, ...], datatype: str, field: str
) -> np.ndarray:
    """V2 JSON `data` (flat or nested, row-major) -> float32 (n, 784) in [0, 1]."""
    flat = flatten_json_array(data, field, max_depth=len(shape) - 1)
    expected = int(np.prod(shape))
    if len(flat) != expected:
        raise InvalidInput(
            f"{field} holds {len(flat)} values; shape {list(shape)} needs {expected}",
            field=field,
            length=len(flat),
            expected=expected,
        )
    if not set(map(type, flat)) <= _NUMBER_TYPES:
        for i, v in enumerate(flat):
            if type(v) not in _NUMBER_TYPES:
                raise InvalidInput(
                    f"{field}[{i}] must be a number 0..255, got {json_type_name(v)}",
                    **_position(i, field),
                )
    # orjson parses integers beyond 64 bits as floats (and rejects infinity), so this fits.
    pixels = np.array(flat, dtype=np.float64)
    if not datatype.startswith("FP"):
        fractional = np.flatnonzero(pixels != np.floor(pixels))
        if fractional.size:
            i = int(fractional[0])
            raise InvalidInput(
                f"{field}[{i}] is {flat[i]!r}; datatype {datatype} needs whole numbers",
                **_position(i, field),
            )
    check_pixel_range(pixels, field)
    return scale_pixels(pixels.reshape(shape[0], N_PIXELS))


def pixels_from_bytes(raw: bytes, shape: tuple[int, ...], datatype: str, field: str) -> np.ndarray:
    """V2 binary tensor data (little-endian, row-major) -> float32 (n, 784) in [0, 1]."""
    dtype = V2_DTYPES[datatype]
    expected = int(np.prod(shape)) * dtype.itemsize
    if len(raw) != expected:
        raise InvalidInput(
            f"{field} has {len(raw)} bytes; shape {list(shape)} of {datatype} needs {expected}",
            field=field,
            length=len(raw),
            expected=expected,
        )
    pixels = np.frombuffer(raw, dtype=dtype)
    check_pixel_range(pixels, field)
    return scale_pixels(pixels.reshape(shape[0], N_PIXELS))


def labels_of(probabilities: np.ndarray) -> np.ndarray:
    """The predicted digit per row, int64 (n,)."""
    return probabilities.argmax(axis=1).astype(np.int64)


def top_k(probabilities: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The k most probable classes per row, best first: (indices (n, k), values (n, k))."""
    if not 1 <= k <= N_CLASSES:
        raise InvalidInput(f"classification must be 1..{N_CLASSES}, got {k}")
    order = np.argsort(-probabilities, axis=1, kind="stable")[:, :k]
    return order, np.take_along_axis(probabilities, order, axis=1)
