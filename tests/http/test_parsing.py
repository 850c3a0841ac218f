"""The request parser as a function: the fast path and the exact path agree on everything."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mnist_serve.errors import InvalidInput, PayloadTooLarge, UnsupportedMediaType
from mnist_serve.http.parsing import image_from_json, images_from_request

scalars = (
    st.integers(-3, 300)
    | st.floats(-1, 300, allow_nan=False)
    | st.integers(min_value=2**63, max_value=2**70)
    | st.none()
    | st.text(max_size=3)
    | st.lists(st.integers(0, 3), max_size=2)
)
pixel_lists = st.lists(st.integers(0, 255), min_size=784, max_size=784).flatmap(
    lambda base: st.lists(st.tuples(st.integers(0, 783), scalars), max_size=4).map(
        lambda edits: [*_apply(base, edits)]
    )
)


def _apply(base: list, edits: list) -> list:
    out = list(base)
    for i, v in edits:
        out[i] = v
    return out


def outcome(pixels: list, may_hold_booleans: bool):
    try:
        return (
            "ok",
            image_from_json(pixels, "image_vector", may_hold_booleans).astype(float).tolist(),
        )
    except InvalidInput as exc:
        return ("error", exc.to_dict())


@settings(max_examples=150, deadline=None)
@given(pixels=pixel_lists)
def test_fast_and_exact_paths_agree(pixels):
    assert outcome(pixels, may_hold_booleans=False) == outcome(pixels, may_hold_booleans=True)


@settings(max_examples=200, deadline=None)
@given(pixels=pixel_lists)
def test_accepted_means_numbers_in_range(pixels):
    kind, value = outcome(pixels, may_hold_booleans=False)
    if kind == "ok":
        assert all(type(v) in (int, float) and 0 <= v <= 255 for v in pixels)
        assert value == [float(v) for v in pixels]
    else:
        assert value["error"].startswith("image_vector")


def test_booleans_are_caught_through_the_raw_body():
    pixels = [0] * 784
    pixels[10] = True
    with pytest.raises(InvalidInput, match=r"image_vector\[10\] must be a number"):
        images_from_request("application/json", json.dumps({"image_vector": pixels}).encode(), 8)


def test_json_and_binary_give_the_same_array():
    pixels = list(range(256)) * 3 + list(range(16))
    from_json, _ = images_from_request(
        "application/json", json.dumps({"image_vector": pixels}).encode(), 8
    )
    from_bytes, _ = images_from_request("application/octet-stream", bytes(pixels), 8)
    assert from_json.dtype == from_bytes.dtype == np.float32
    np.testing.assert_array_equal(from_json, from_bytes)
    assert from_json.max() == 1.0


def test_limits_and_media_types():
    with pytest.raises(PayloadTooLarge):
        images_from_request("application/octet-stream", bytes(784 * 3), 2)
    with pytest.raises(UnsupportedMediaType):
        images_from_request("text/csv", b"1,2,3", 2)
    x, batched = images_from_request(
        "application/vnd.api+json", b'{"image_vector": %s}' % json.dumps([0] * 784).encode(), 2
    )
    assert x.shape == (1, 784) and not batched
