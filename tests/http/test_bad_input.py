"""Every class of bad input gets a 4xx JSON error naming what is wrong; the server lives on."""

from __future__ import annotations

import json

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import start_server, stop_server

PATH = "/verify_vector_image"
ZEROS = [0] * 784


def with_value(index: int, value) -> str:
    pixels = list(ZEROS)
    pixels[index] = value
    return json.dumps({"image_vector": pixels})


def raw_with_value(index: int, literal: str) -> str:
    parts = ["0"] * 784
    parts[index] = literal
    return '{"image_vector": [' + ",".join(parts) + "]}"


# (name, body, content type, expected status, text the error must contain, extra fields expected)
CASES = [
    ("not json", "{not json", "application/json", 400, "not valid JSON", {}),
    ("empty body", "", "application/json", 400, "empty", {}),
    ("top-level array", "[1, 2, 3]", "application/json", 400, "JSON object", {}),
    ("top-level string", '"hello"', "application/json", 400, "JSON object", {}),
    ("top-level number", "42", "application/json", 400, "JSON object", {}),
    (
        "missing key",
        '{"image": [1, 2]}',
        "application/json",
        400,
        "missing field image_vector",
        {"field": "image_vector"},
    ),
    (
        "vector is a string",
        '{"image_vector": "0,0,0"}',
        "application/json",
        400,
        "must be an array",
        {"field": "image_vector"},
    ),
    ("vector is null", '{"image_vector": null}', "application/json", 400, "got null", {}),
    (
        "too short",
        json.dumps({"image_vector": [0] * 783}),
        "application/json",
        400,
        "783 elements",
        {"length": 783},
    ),
    (
        "too long",
        json.dumps({"image_vector": [0] * 785}),
        "application/json",
        400,
        "785 elements",
        {"length": 785},
    ),
    ("empty vector", '{"image_vector": []}', "application/json", 400, "0 elements", {}),
    (
        "ragged 28 rows",
        json.dumps({"image_vector": [[0] * 28] * 27 + [[0] * 27]}),
        "application/json",
        400,
        "image_vector[27] has 27 values",
        {},
    ),
    (
        "27 rows",
        json.dumps({"image_vector": [[0] * 28] * 27}),
        "application/json",
        400,
        "27 elements",
        {},
    ),
    (
        "string pixel",
        with_value(17, "12"),
        "application/json",
        400,
        "image_vector[17]",
        {"index": 17, "value": "12"},
    ),
    ("null pixel", with_value(3, None), "application/json", 400, "got null", {"index": 3}),
    ("boolean pixel", with_value(5, True), "application/json", 400, "got boolean", {"index": 5}),
    ("object pixel", with_value(9, {"a": 1}), "application/json", 400, "got object", {"index": 9}),
    ("array pixel in flat form", with_value(0, [1]), "application/json", 400, "got array", {}),
    ("NaN literal", raw_with_value(1, "NaN"), "application/json", 400, "not valid JSON", {}),
    (
        "Infinity literal",
        raw_with_value(1, "Infinity"),
        "application/json",
        400,
        "not valid JSON",
        {},
    ),
    (
        "overflowing float",
        raw_with_value(2, "1e400"),
        "application/json",
        400,
        "not valid JSON",
        {},
    ),
    (
        "negative pixel",
        with_value(100, -1),
        "application/json",
        400,
        "out of range",
        {"index": 100, "value": -1},
    ),
    (
        "pixel above 255",
        with_value(783, 256),
        "application/json",
        400,
        "out of range",
        {"index": 783},
    ),
    ("fraction above 255", with_value(7, 255.5), "application/json", 400, "out of range", {}),
    ("huge integer", with_value(4, 10**30), "application/json", 400, "image_vector", {}),
    (
        "absurdly long number",
        raw_with_value(4, "9" * 5000),
        "application/json",
        400,
        "number is infinity",
        {},
    ),
    (
        "deeply nested",
        '{"image_vector": ' + "[" * 5000 + "]" * 5000 + "}",
        "application/json",
        400,
        "not valid JSON: depth limit exceeded",
        {},
    ),
    (
        "moderately nested",
        '{"image_vector": ' + "[" * 500 + "]" * 500 + "}",
        "application/json",
        400,
        "1 elements",
        {},
    ),
    (
        "both keys",
        json.dumps({"image_vector": ZEROS, "image_vectors": [ZEROS]}),
        "application/json",
        400,
        "either",
        {},
    ),
    ("empty batch", '{"image_vectors": []}', "application/json", 400, "non-empty", {}),
    (
        "bad image in batch",
        json.dumps({"image_vectors": [ZEROS, [0] * 5]}),
        "application/json",
        400,
        "image_vectors[1] has 5 elements",
        {},
    ),
    ("form content type", "a=1", "application/x-www-form-urlencoded", 415, "Content-Type", {}),
    (
        "text content type",
        json.dumps({"image_vector": ZEROS}),
        "text/plain",
        415,
        "Content-Type",
        {},
    ),
    (
        "binary not a multiple of 784",
        b"\x00" * 100,
        "application/octet-stream",
        400,
        "multiple of 784",
        {"length": 100},
    ),
    ("empty binary", b"", "application/octet-stream", 400, "multiple of 784", {}),
    (
        "invalid utf-8",
        b'{"image_vector": "\xff\xfe"}',
        "application/json",
        400,
        "not valid JSON",
        {},
    ),
]


def assert_still_serving(server, example):
    response = server.post(PATH, json.dumps(example))
    assert response.status_code == 200
    assert response.json()["mlp"]["predicted_number"] == 5


@pytest.mark.parametrize(
    ("body", "content_type", "status", "text", "fields"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_bad_input_gets_a_json_4xx(server, example, body, content_type, status, text, fields):
    response = server.post(PATH, body, content_type)
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"] == "application/json"
    error = response.json()
    assert text in error["error"]
    for key, value in fields.items():
        assert error[key] == value
    assert_still_serving(server, example)


def test_oversized_body_is_413(server, example):
    response = server.post(PATH, b"[" + b"0," * 600_000 + b"0]")
    assert response.status_code == 413
    assert response.json()["limit_bytes"] == 1024 * 1024
    assert_still_serving(server, example)


def test_batch_larger_than_the_limit_is_413(server, example):
    response = server.post(PATH, json.dumps({"image_vectors": [ZEROS] * 257}))
    assert response.status_code == 413
    assert response.json()["max_batch"] == 256
    binary = server.post(PATH, b"\x00" * 784 * 257, "application/octet-stream")
    assert binary.status_code == 413
    assert_still_serving(server, example)


def test_wrong_method_is_405_with_allow_header(server):
    response = server.get(PATH)
    assert response.status_code == 405
    assert "POST" in response.headers["Allow"]
    assert "error" in response.json()


def test_unknown_path_is_404(server):
    response = server.post("/no/such/path", "{}")
    assert response.status_code == 404
    assert "error" in response.json()


def test_chunked_body_over_the_limit_is_refused(server, example):
    def chunks():
        for _ in range(300):
            yield b"0" * 8192

    response = requests.post(
        server.url + PATH, data=chunks(), headers={"Content-Type": "application/json"}, timeout=10
    )
    assert response.status_code == 413
    assert_still_serving(server, example)


def test_body_limit_is_configurable(example):
    small = start_server(
        {
            "MNIST_SERVE_MAX_BODY_BYTES": "2500",
            "MNIST_SERVE_MAX_BATCH": "2",
            "MNIST_SERVE_WORKERS": "1",
        }
    )
    try:
        response = small.post(PATH, json.dumps(example))  # 2646 bytes
        assert response.status_code == 413
        assert response.json()["limit_bytes"] == 2500
        pixels = bytes(example["image_vector"])
        assert small.post(PATH, pixels * 2, "application/octet-stream").status_code == 200
        response = small.post(PATH, pixels * 3, "application/octet-stream")  # 2352 bytes
        assert response.status_code == 413
        assert response.json()["max_batch"] == 2
    finally:
        stop_server(small)


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=5),
    lambda children: (
        st.lists(children, max_size=30) | st.dictionaries(st.text(max_size=5), children, max_size=5)
    ),
    max_leaves=60,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(value=json_values)
def test_any_json_value_gets_a_clean_answer(server, value):
    for body in ({"image_vector": value}, {"image_vectors": value}, value):
        response = server.post(PATH, json.dumps(body))
        assert response.status_code in (200, 400, 413), response.text
        assert isinstance(response.json(), dict | list)
        if response.status_code != 200:
            assert response.json()["error"]


@settings(max_examples=60, deadline=None)
@given(pixels=st.lists(st.integers(0, 255), min_size=784, max_size=784))
def test_any_valid_image_gets_two_predictions(server, pixels):
    body = server.post(PATH, json.dumps({"image_vector": pixels})).json()
    assert 0 <= body["mlp"]["predicted_number"] <= 9
    assert 0 <= body["xgboost"]["predicted_number"] <= 9
