"""TensorFlow Serving's REST API against a real Gunicorn, in the shapes TF Serving answers."""

from __future__ import annotations

import gzip
import json

import numpy as np
import pytest
import requests

from tests.conftest import served_version

MODELS = ["mlp", "xgboost", "ensemble"]
UNKNOWN = str(int(served_version("mlp")) + 1)  # a version no model has


@pytest.fixture(scope="module")
def seed_probabilities(server, example_pixels) -> dict[str, np.ndarray]:
    """The seed endpoint's probabilities for the example (a 5), plus their mean."""
    answer = server.post("/verify_vector_image", json.dumps({"image_vector": example_pixels}))
    proba = {n: np.array(answer.json()[n]["probabilities"]) for n in ("mlp", "xgboost")}
    proba["ensemble"] = (proba["mlp"] + proba["xgboost"]) / 2
    return proba


def predict(server, name: str, body, version: str | None = None):
    path = f"/v1/models/{name}" + (f"/versions/{version}" if version else "") + ":predict"
    return server.post(path, body if isinstance(body, str) else json.dumps(body))


@pytest.mark.parametrize("name", MODELS)
def test_model_status(server, name):
    expected = {
        "model_version_status": [
            {
                "version": served_version(name),
                "state": "AVAILABLE",
                "status": {"error_code": "OK", "error_message": ""},
            }
        ]
    }
    assert server.get(f"/v1/models/{name}").json() == expected
    assert server.get(f"/v1/models/{name}/versions/{served_version(name)}").json() == expected


@pytest.mark.parametrize("name", MODELS)
def test_metadata_lists_both_signatures(server, name):
    body = server.get(f"/v1/models/{name}/metadata").json()
    version = served_version(name)
    assert body["model_spec"] == {"name": name, "signature_name": "", "version": version}
    signatures = body["metadata"]["signature_def"]["signature_def"]
    assert set(signatures) == {"serving_default", "with_label"}
    default = signatures["serving_default"]
    assert default["method_name"] == "tensorflow/serving/predict"
    pixels = default["inputs"]["pixels"]
    assert pixels["dtype"] == "DT_FLOAT"
    assert [d["size"] for d in pixels["tensor_shape"]["dim"]] == ["-1", "784"]
    assert list(default["outputs"]) == ["probabilities"]
    assert set(signatures["with_label"]["outputs"]) == {"probabilities", "label"}
    assert signatures["with_label"]["outputs"]["label"]["dtype"] == "DT_INT64"
    assert server.get(f"/v1/models/{name}/versions/{version}/metadata").json() == body


@pytest.mark.parametrize(
    "path",
    [
        "/v1/models/resnet",
        f"/v1/models/mlp/versions/{UNKNOWN}",
        "/v1/models/mlp/versions/one",
        "/v1/models/resnet/metadata",
        f"/v1/models/xgboost/versions/{int(UNKNOWN) + 1}/metadata",
    ],
)
def test_unknown_model_or_version_is_404(server, path):
    response = server.get(path)
    assert response.status_code == 404
    assert "error" in response.json()


def test_version_is_an_integer(server):
    assert server.get(f"/v1/models/mlp/versions/0{served_version('mlp')}").status_code == 200


@pytest.mark.parametrize("name", MODELS)
def test_row_format_answers_predictions(server, name, example_pixels, seed_probabilities):
    response = predict(server, name, {"instances": [example_pixels, [0] * 784]})
    assert response.status_code == 200
    predictions = response.json()["predictions"]
    assert len(predictions) == 2 and all(len(p) == 10 for p in predictions)
    np.testing.assert_allclose(predictions[0], seed_probabilities[name], rtol=1e-5, atol=1e-6)
    assert int(np.argmax(predictions[0])) == 5


@pytest.mark.parametrize("name", MODELS)
def test_columnar_format_answers_outputs(server, name, example_pixels, seed_probabilities):
    for inputs in ([example_pixels], {"pixels": [example_pixels]}):
        response = predict(server, name, {"inputs": inputs})
        assert response.status_code == 200
        outputs = response.json()["outputs"]
        np.testing.assert_allclose(outputs[0], seed_probabilities[name], rtol=1e-5, atol=1e-6)


def test_every_instance_form_gives_the_same_answer(server, example_pixels):
    rows = [example_pixels[r * 28 : (r + 1) * 28] for r in range(28)]
    floats = [float(v) for v in example_pixels]
    forms = [example_pixels, rows, {"pixels": example_pixels}, {"pixels": rows}, floats]
    predictions = predict(server, "mlp", {"instances": forms}).json()["predictions"]
    assert all(p == predictions[0] for p in predictions)


def test_with_label_signature(server, example_pixels):
    body = {"signature_name": "with_label", "instances": [example_pixels, example_pixels]}
    rows = predict(server, "ensemble", body, version="1").json()["predictions"]
    assert [set(r) for r in rows] == [{"probabilities", "label"}] * 2
    assert [r["label"] for r in rows] == [5, 5]
    body = {"signature_name": "with_label", "inputs": {"pixels": [example_pixels]}}
    outputs = predict(server, "ensemble", body).json()["outputs"]
    assert outputs["label"] == [5]
    assert len(outputs["probabilities"]) == 1 and len(outputs["probabilities"][0]) == 10


def test_gzip_request_body(server, example_pixels):
    body = gzip.compress(json.dumps({"instances": [example_pixels]}).encode())
    response = requests.post(
        f"{server.url}/v1/models/mlp:predict",
        data=body,
        headers={"Content-Encoding": "gzip"},
        timeout=10,
    )
    assert response.status_code == 200
    assert int(np.argmax(response.json()["predictions"][0])) == 5
    bad = requests.post(
        f"{server.url}/v1/models/mlp:predict",
        data=b"{}",
        headers={"Content-Encoding": "br"},
        timeout=10,
    )
    assert bad.status_code == 415


def test_serving_default_named_explicitly(server, example_pixels):
    body = {"signature_name": "serving_default", "instances": [example_pixels]}
    assert len(predict(server, "xgboost", body).json()["predictions"][0]) == 10


ZEROS = [0] * 784
# (name, body, status, text the error must contain)
BAD_REQUESTS = [
    ("empty body", "", 400, "request body is empty"),
    ("not json", "{instances", 400, "not valid JSON"),
    ("array body", "[1]", 400, "must be a JSON object"),
    ("neither key", {"examples": []}, 400, "exactly one of instances"),
    ("both keys", {"instances": [ZEROS], "inputs": [ZEROS]}, 400, "exactly one of instances"),
    (
        "unknown signature",
        {"signature_name": "classify", "instances": [ZEROS]},
        400,
        "signature_name 'classify' not found",
    ),
    ("signature not string", {"signature_name": 3, "instances": [ZEROS]}, 400, "not found"),
    ("instances not list", {"instances": ZEROS[0]}, 400, "must be an array of images"),
    ("no instances", {"instances": []}, 400, "must hold 1 to 256 images"),
    ("one flat image as instances", {"instances": ZEROS}, 400, "wrap a single image in a list"),
    ("short image", {"instances": [[0] * 783]}, 400, "instances[0] has 783 elements"),
    ("wrong input name", {"instances": [{"image": ZEROS}]}, 400, "this model has one input"),
    ("extra input name", {"instances": [{"pixels": ZEROS, "x": 1}]}, 400, "one input"),
    ("bad pixel", {"instances": [[0] * 5 + [300] + [0] * 778]}, 400, "instances[0][5]"),
    (
        "bad named pixel",
        {"instances": [{"pixels": ["a"] + [0] * 783}]},
        400,
        "instances[0].pixels[0]",
    ),
    ("columnar wrong name", {"inputs": {"images": [ZEROS]}}, 400, "this model has one input"),
    ("columnar not images", {"inputs": {"pixels": ZEROS}}, 400, "got an array of numbers"),
    ("too many images", {"instances": [ZEROS] * 257}, 413, "at most 256"),
]


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [case[1:] for case in BAD_REQUESTS],
    ids=[case[0] for case in BAD_REQUESTS],
)
def test_bad_requests_get_a_json_error(server, body, status, message):
    response = predict(server, "mlp", body)
    assert response.status_code == status, response.text
    assert message in response.json()["error"]


def test_predict_on_unknown_model_or_version(server):
    assert predict(server, "resnet", {"instances": [ZEROS]}).status_code == 404
    response = predict(server, "mlp", {"instances": [ZEROS]}, version="9")
    assert response.status_code == 404
    assert "no version '9'" in response.json()["error"]


def test_get_on_predict_is_405(server):
    response = server.get("/v1/models/mlp:predict")
    assert response.status_code == 405
    assert response.headers["Allow"].split(", ").count("POST") == 1
