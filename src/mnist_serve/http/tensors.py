"""KServe V2 tensors -> validated float32 (n, 784) in [0, 1], and the outputs every protocol shares.

What is V2's own lives here: datatypes, `shape`, nested `data` and binary tensor bytes. The
pixel rules themselves (element types, 0..255, batch limit) are `parsing.py`'s, called from here.
"""

from __future__ import annotations

from itertools import chain
from typing import Any

import numpy as np

from mnist_serve.data import IMAGE_SHAPE, N_CLASSES, N_PIXELS, scale_pixels
from mnist_serve.errors import InvalidInput
from mnist_serve.http.parsing import check_batch_size, check_range, json_type_name, numbers_array

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


def as_int(value: Any) -> int | None:
    """A JSON integer, or None. 3.0 counts (JSON Schema's integer does), 3.5 and true do not."""
    if type(value) is int:
        return value
    if type(value) is float and value.is_integer():
        return int(value)
    return None


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
    pixels = numbers_array(flat, field, locate=_position).astype(np.float64, copy=False)
    if not datatype.startswith("FP"):
        fractional = np.flatnonzero(pixels != np.floor(pixels))
        if fractional.size:
            i = int(fractional[0])
            raise InvalidInput(
                f"{field}[{i}] is {flat[i]!r}; datatype {datatype} needs whole numbers",
                **_position(i, field),
            )
    check_range(pixels, field, flat, locate=_position)
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
    check_range(pixels, field, locate=_position)
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
