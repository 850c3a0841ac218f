"""The seed's endpoint end to end, against a real Gunicorn."""

from __future__ import annotations

import json

import numpy as np
import pytest

ENDPOINTS = ["/verify_vector_image", "/classify_image_vector"]


@pytest.mark.parametrize("path", ENDPOINTS)
def test_example_is_a_five_for_both_models(server, example, path):
    response = server.post(path, json.dumps(example))
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    body = response.json()
    assert body["mlp"]["predicted_number"] == 5
    assert body["xgboost"]["predicted_number"] == 5


def test_answer_carries_probabilities_and_confidence(server, example):
    body = server.post("/verify_vector_image", json.dumps(example)).json()
    assert set(body) == {"mlp", "xgboost"}
    for answer in body.values():
        proba = np.array(answer["probabilities"])
        assert proba.shape == (10,)
        assert abs(proba.sum() - 1) < 1e-3
        assert answer["confidence"] == pytest.approx(proba.max())
        assert int(proba.argmax()) == answer["predicted_number"]


def test_28_rows_of_28_equal_the_flat_form(server, example_pixels):
    rows = [example_pixels[r * 28 : (r + 1) * 28] for r in range(28)]
    flat = server.post("/verify_vector_image", json.dumps({"image_vector": example_pixels})).json()
    nested = server.post("/verify_vector_image", json.dumps({"image_vector": rows})).json()
    assert nested == flat


def test_floats_and_extra_fields_are_accepted(server, example_pixels):
    body = {"image_vector": [float(v) for v in example_pixels], "id": "abc"}
    response = server.post("/verify_vector_image", json.dumps(body))
    assert response.status_code == 200
    assert response.json()["mlp"]["predicted_number"] == 5


def test_json_content_type_with_charset(server, example):
    response = server.post(
        "/verify_vector_image", json.dumps(example), "application/json; charset=utf-8"
    )
    assert response.status_code == 200


def test_blank_image_answers_without_error(server):
    response = server.post("/verify_vector_image", json.dumps({"image_vector": [0] * 784}))
    assert response.status_code == 200
    assert 0 <= response.json()["mlp"]["predicted_number"] <= 9


def test_batch_returns_one_answer_per_image(server, example_pixels):
    blank = [0] * 784
    body = {"image_vectors": [example_pixels, blank, example_pixels]}
    response = server.post("/verify_vector_image", json.dumps(body))
    assert response.status_code == 200
    answers = response.json()
    assert isinstance(answers, list) and len(answers) == 3
    assert answers[0] == answers[2]
    assert answers[0]["mlp"]["predicted_number"] == 5


def test_binary_body_single_and_batch(server, example_pixels):
    one = bytes(example_pixels)
    single = server.post("/verify_vector_image", one, "application/octet-stream")
    assert single.status_code == 200
    assert single.json()["xgboost"]["predicted_number"] == 5
    batch = server.post("/verify_vector_image", one * 3, "application/octet-stream")
    assert batch.status_code == 200
    assert [a["mlp"]["predicted_number"] for a in batch.json()] == [5, 5, 5]
    # One image and a batch take different (equivalent) paths through the MLP's graph: the
    # same answer up to float rounding.
    first, alone = batch.json()[0], single.json()
    for name in ("mlp", "xgboost"):
        assert first[name]["predicted_number"] == alone[name]["predicted_number"]
        assert first[name]["probabilities"] == pytest.approx(alone[name]["probabilities"], abs=1e-6)


def test_labels_only_answers_just_the_digits(server, example_pixels):
    one = bytes(example_pixels)
    blank = bytes(784)
    full = server.post("/verify_vector_image", one + blank, "application/octet-stream").json()
    labels = server.post(
        "/verify_vector_image?output=labels", one + blank, "application/octet-stream"
    )
    assert labels.status_code == 200
    assert labels.json() == [
        {name: {"predicted_number": a[name]["predicted_number"]} for name in a} for a in full
    ]
    single = server.post(
        "/verify_vector_image?output=labels", json.dumps({"image_vector": example_pixels})
    )
    assert single.json() == {"mlp": {"predicted_number": 5}, "xgboost": {"predicted_number": 5}}


def test_unknown_output_is_a_400_naming_it(server, example):
    response = server.post("/verify_vector_image?output=everything", json.dumps(example))
    assert response.status_code == 400
    assert "output" in response.json()["error"]
