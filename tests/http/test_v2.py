"""KServe V2 / Open Inference Protocol against a real Gunicorn: the official tritonclient
unmodified, and raw HTTP for what a client library would never send."""

from __future__ import annotations

import gzip
import json
import struct
import zlib

import numpy as np
import pytest
import requests
import tritonclient.http as triton
from tritonclient.utils import InferenceServerException

from tests.conftest import MODELS as MODELS_DIR
from tests.conftest import served_version

MODELS = ["mlp", "xgboost", "ensemble"]
UNKNOWN = str(int(served_version("mlp")) + 1)  # a version no model has
HEADER_LENGTH = "Inference-Header-Content-Length"


@pytest.fixture(scope="module")
def client(server):
    with triton.InferenceServerClient(server.url.removeprefix("http://")) as c:
        yield c


@pytest.fixture(scope="module")
def image(example_pixels) -> np.ndarray:
    """The seed's example (a 5) as uint8 (1, 784)."""
    return np.array(example_pixels, dtype=np.uint8).reshape(1, 784)


@pytest.fixture(scope="module")
def batch(image) -> np.ndarray:
    """The example, a blank image, the example again."""
    return np.concatenate([image, np.zeros_like(image), image])


@pytest.fixture(scope="module")
def seed_probabilities(server, batch) -> dict[str, np.ndarray]:
    """What the seed endpoint answers for `batch`, per model, plus their mean."""
    body = {"image_vectors": batch.tolist()}
    answers = server.post("/verify_vector_image", json.dumps(body)).json()
    proba = {
        name: np.array([a[name]["probabilities"] for a in answers], dtype=np.float32)
        for name in ("mlp", "xgboost")
    }
    proba["ensemble"] = (proba["mlp"] + proba["xgboost"]) / 2
    return proba


def infer_input(array: np.ndarray, datatype: str, binary: bool = True) -> triton.InferInput:
    tensor = triton.InferInput("pixels", list(array.shape), datatype)
    tensor.set_data_from_numpy(array, binary_data=binary)
    return tensor


def v2_post(server, path: str, body, headers: dict | None = None) -> requests.Response:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return requests.post(server.url + path, data=data, headers=headers or {}, timeout=10)


def v2_json_request(data, shape=(1, 784), datatype="UINT8", **extra) -> dict:
    return {
        "inputs": [{"name": "pixels", "shape": list(shape), "datatype": datatype, "data": data}],
        **extra,
    }


# --- server and model metadata, health ------------------------------------------------------


def test_server_health_and_metadata(client, server):
    assert client.is_server_live()
    assert client.is_server_ready()
    metadata = client.get_server_metadata()
    assert metadata["name"] == "mnist-serve"
    assert metadata["version"]
    assert set(metadata["extensions"]) == {"binary_tensor_data", "classification"}
    for path in ("/v2/health/live", "/v2/health/ready"):
        response = server.get(path)
        assert response.status_code == 200
        assert response.content == b""  # the spec: the status code is the answer


@pytest.mark.parametrize("name", MODELS)
def test_model_metadata(client, name):
    metadata = client.get_model_metadata(name)
    assert metadata["name"] == name
    version = served_version(name)
    assert metadata["versions"] == [version]
    assert metadata["platform"] == ("ensemble" if name == "ensemble" else "onnxruntime_onnx")
    assert metadata["inputs"] == [{"name": "pixels", "datatype": "FP32", "shape": [-1, 784]}]
    assert metadata["outputs"] == [
        {"name": "probabilities", "datatype": "FP32", "shape": [-1, 10]},
        {"name": "label", "datatype": "INT64", "shape": [-1]},
    ]
    assert client.get_model_metadata(name, model_version=version) == metadata
    assert client.is_model_ready(name) and client.is_model_ready(name, version)


def test_metadata_parameters_come_from_the_model_json(client):
    for name in ("mlp", "xgboost"):
        entry = json.loads((MODELS_DIR / name / served_version(name) / "model.json").read_text())
        parameters = client.get_model_metadata(entry["name"])["parameters"]
        assert parameters["sha256"] == entry["artifacts"][0]["sha256"]
        assert parameters["test_accuracy"] == entry["metrics"]["test_accuracy"]
    assert client.get_model_metadata("ensemble")["parameters"]["members"] == "mlp,xgboost"


@pytest.mark.parametrize(
    "path",
    [
        "/v2/models/resnet",
        f"/v2/models/mlp/versions/{UNKNOWN}",
        "/v2/models/resnet/ready",
        "/v2/models/ensemble/versions/0/ready",
    ],
)
def test_unknown_model_or_version_is_404_json(server, path):
    response = server.get(path)
    assert response.status_code == 404
    assert "error" in response.json()


def test_client_sees_missing_models_and_versions(client):
    assert not client.is_model_ready("resnet")
    assert not client.is_model_ready("mlp", UNKNOWN)
    with pytest.raises(InferenceServerException, match="no model named 'resnet'") as info:
        client.get_model_metadata("resnet")
    assert info.value.status() == "404"
    with pytest.raises(InferenceServerException, match="no version '7'"):
        client.get_model_metadata("xgboost", model_version="7")


# --- inference with tritonclient ------------------------------------------------------------


@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize("binary", [True, False], ids=["binary", "json"])
def test_infer_matches_the_seed_endpoint(client, name, binary, batch, seed_probabilities):
    outputs = [
        triton.InferRequestedOutput("probabilities", binary_data=binary),
        triton.InferRequestedOutput("label", binary_data=binary),
    ]
    result = client.infer(name, [infer_input(batch, "UINT8", binary)], outputs=outputs)
    proba = result.as_numpy("probabilities")
    assert proba.dtype == np.float32 and proba.shape == (3, 10)
    np.testing.assert_allclose(proba, seed_probabilities[name], rtol=1e-5, atol=1e-6)
    labels = result.as_numpy("label")
    assert labels.dtype == np.int64
    assert labels.tolist() == proba.argmax(axis=1).tolist()
    assert labels[0] == labels[2] == 5
    response = result.get_response()
    assert response["model_name"] == name and response["model_version"] == served_version(name)


@pytest.mark.parametrize("datatype", ["UINT8", "INT32", "INT64", "FP16", "FP32", "FP64"])
@pytest.mark.parametrize("binary", [True, False], ids=["binary", "json"])
def test_every_pixel_datatype_gives_the_same_answer(client, datatype, binary, batch):
    reference = client.infer("mlp", [infer_input(batch, "UINT8")]).as_numpy("probabilities")
    array = batch.astype(triton.triton_to_np_dtype(datatype))
    result = client.infer("mlp", [infer_input(array, datatype, binary)])
    np.testing.assert_allclose(result.as_numpy("probabilities"), reference, rtol=1e-6)


@pytest.mark.parametrize("binary", [True, False], ids=["binary", "json"])
def test_28_by_28_images_equal_flat_ones(client, batch, binary):
    flat = client.infer("xgboost", [infer_input(batch, "UINT8", binary)])
    square = client.infer("xgboost", [infer_input(batch.reshape(3, 28, 28), "UINT8", binary)])
    np.testing.assert_array_equal(square.as_numpy("probabilities"), flat.as_numpy("probabilities"))


def test_no_outputs_requested_means_all_in_binary(client, image):
    # tritonclient then sets "binary_data_output": true for the whole request.
    result = client.infer("ensemble", [infer_input(image, "UINT8")])
    outputs = result.get_response()["outputs"]
    assert [o["name"] for o in outputs] == ["probabilities", "label"]
    assert all("binary_data_size" in o["parameters"] and "data" not in o for o in outputs)
    assert result.as_numpy("label").tolist() == [5]


def test_only_the_requested_outputs_come_back(client, image):
    result = client.infer(
        "mlp", [infer_input(image, "UINT8")], outputs=[triton.InferRequestedOutput("label")]
    )
    assert [o["name"] for o in result.get_response()["outputs"]] == ["label"]
    assert result.as_numpy("probabilities") is None
    assert result.as_numpy("label").tolist() == [5]


@pytest.mark.parametrize("binary", [True, False], ids=["binary", "json"])
@pytest.mark.parametrize("k", [1, 3, 10])
def test_classification_extension_returns_top_k(client, batch, binary, k):
    full = client.infer("ensemble", [infer_input(batch, "UINT8")]).as_numpy("probabilities")
    outputs = [triton.InferRequestedOutput("probabilities", binary_data=binary, class_count=k)]
    result = client.infer("ensemble", [infer_input(batch, "UINT8")], outputs=outputs)
    entry = result.get_output("probabilities")
    assert entry["datatype"] == "BYTES" and entry["shape"] == [3, k]
    top = result.as_numpy("probabilities")
    assert top.shape == (3, k)
    for row, proba in zip(top, full, strict=True):
        # tritonclient gives bytes for binary BYTES data and str for JSON data.
        texts = [s.decode() if isinstance(s, bytes) else s for s in row]
        pairs = [(float(v), int(i)) for v, i in (t.split(":") for t in texts)]
        indices = [i for _, i in pairs]
        assert indices == np.argsort(-proba, kind="stable")[:k].tolist()
        np.testing.assert_allclose([v for v, _ in pairs], proba[indices], atol=1e-6)
    first = top[0][0]
    assert (first.decode() if isinstance(first, bytes) else first).endswith(":5")


def test_request_id_is_echoed(client, image):
    result = client.infer("mlp", [infer_input(image, "UINT8")], request_id="req-42")
    assert result.get_response()["id"] == "req-42"
    without = client.infer("mlp", [infer_input(image, "UINT8")])
    assert "id" not in without.get_response()


@pytest.mark.parametrize("algorithm", ["gzip", "deflate"])
def test_compressed_requests(client, batch, algorithm):
    pixels = batch.astype(np.float32)
    plain = client.infer("ensemble", [infer_input(pixels, "FP32", binary=False)])
    packed = client.infer(
        "ensemble",
        [infer_input(pixels, "FP32", binary=False)],
        request_compression_algorithm=algorithm,
        response_compression_algorithm=algorithm,  # we answer uncompressed, which is allowed
    )
    np.testing.assert_array_equal(packed.as_numpy("probabilities"), plain.as_numpy("probabilities"))
    assert packed.as_numpy("label").tolist() == [5, plain.as_numpy("label")[1], 5]


def test_versioned_infer(client, image):
    version = served_version("xgboost")
    result = client.infer("xgboost", [infer_input(image, "UINT8")], model_version=version)
    assert result.as_numpy("label").tolist() == [5]
    with pytest.raises(InferenceServerException, match=f"no version '{UNKNOWN}'") as info:
        client.infer("xgboost", [infer_input(image, "UINT8")], model_version=UNKNOWN)
    assert info.value.status() == "404"


def test_client_gets_our_error_message(client, image):
    with pytest.raises(InferenceServerException, match="this model's input is 'pixels'") as info:
        tensor = triton.InferInput("image", [1, 784], "UINT8")
        tensor.set_data_from_numpy(image)
        client.infer("mlp", [tensor])
    assert info.value.status() == "400"


# --- raw HTTP: forms a library would not produce -------------------------------------------


def test_nested_json_data_and_request_level_binary_output(server, example_pixels):
    rows = [example_pixels[r * 28 : (r + 1) * 28] for r in range(28)]
    body = v2_json_request([rows], shape=(1, 28, 28), parameters={"binary_data_output": True})
    response = v2_post(server, "/v2/models/mlp/infer", body)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/octet-stream"
    size = int(response.headers[HEADER_LENGTH])
    header = json.loads(response.content[:size])
    tail = response.content[size:]
    sizes = [o["parameters"]["binary_data_size"] for o in header["outputs"]]
    assert sizes == [40, 8] and len(tail) == 48
    assert np.frombuffer(tail[40:], dtype="<i8").tolist() == [5]
    assert abs(np.frombuffer(tail[:40], dtype="<f4").sum() - 1) < 1e-4


def test_json_answer_is_flat_row_major(server, example_pixels):
    body = v2_json_request(example_pixels * 2, shape=(2, 784))
    response = v2_post(server, "/v2/models/xgboost/infer", body)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    outputs = {o["name"]: o for o in response.json()["outputs"]}
    assert outputs["probabilities"]["shape"] == [2, 10]
    assert len(outputs["probabilities"]["data"]) == 20
    assert outputs["label"] == {"name": "label", "datatype": "INT64", "shape": [2], "data": [5, 5]}


def test_integral_floats_count_as_integers(server, example_pixels):
    body = v2_json_request([float(v) for v in example_pixels], shape=(1.0, 784.0))
    response = v2_post(server, "/v2/models/mlp/infer", body)
    assert response.status_code == 200


def test_raw_binary_framing(server, image):
    tensor = {
        "name": "pixels",
        "shape": [1, 784],
        "datatype": "UINT8",
        "parameters": {"binary_data_size": 784},
    }
    body, headers = framed({"inputs": [tensor], "outputs": [{"name": "label"}]}, image.tobytes())
    headers["Content-Type"] = "application/octet-stream"
    response = v2_post(server, "/v2/models/ensemble/infer", body, headers)
    assert response.status_code == 200
    assert response.json()["outputs"][0]["data"] == [5]


def framed(header: dict, payload: bytes) -> tuple[bytes, dict]:
    """Body and headers of the binary tensor data extension: JSON header, then raw bytes."""
    raw = json.dumps(header).encode()
    return raw + payload, {HEADER_LENGTH: str(len(raw))}


def _binary_body(datatype: str, payload: bytes, size=None, extra=b"", **input_fields) -> tuple:
    tensor = {
        "name": "pixels",
        "shape": [1, 784],
        "datatype": datatype,
        "parameters": {"binary_data_size": len(payload) if size is None else size},
        **input_fields,
    }
    return framed({"inputs": [tensor]}, payload + extra)


ZEROS = [0] * 784
# (name, body, extra headers, status, text the error must contain)
BAD_REQUESTS = [
    ("empty body", b"", {}, 400, "inference request is empty"),
    ("not json", b"{inputs", {}, 400, "not valid JSON"),
    ("array body", b"[1, 2]", {}, 400, "inference request must be a JSON object"),
    ("no inputs", {"outputs": []}, {}, 400, "inputs must be an array holding one tensor"),
    ("two inputs", {"inputs": [{}, {}]}, {}, 400, "got 2 inputs"),
    ("input not object", {"inputs": [7]}, {}, 400, "inputs[0] must be an object"),
    (
        "wrong input name",
        {"inputs": [{"name": "x", "shape": [1, 784], "datatype": "UINT8", "data": ZEROS}]},
        {},
        400,
        "this model's input is 'pixels'",
    ),
    ("BYTES datatype", v2_json_request(ZEROS, datatype="BYTES"), {}, 400, "is not supported"),
    ("BOOL datatype", v2_json_request(ZEROS, datatype="BOOL"), {}, 400, "is not supported"),
    ("datatype is a list", v2_json_request(ZEROS, datatype=["FP32"]), {}, 400, "not supported"),
    ("shape 784", v2_json_request(ZEROS, shape=(784,)), {}, 400, "expected [n, 784]"),
    ("shape 1x785", v2_json_request(ZEROS, shape=(1, 785)), {}, 400, "expected [n, 784]"),
    ("shape 1x1x784", v2_json_request(ZEROS, shape=(1, 1, 784)), {}, 400, "expected [n, 784]"),
    ("shape of strings", v2_json_request(ZEROS, shape=("1", "784")), {}, 400, "integers"),
    ("shape 0 images", v2_json_request([], shape=(0, 784)), {}, 400, "1 to 256 images"),
    ("shape -1", v2_json_request(ZEROS, shape=(-1, 784)), {}, 400, "1 to 256 images"),
    ("too few values", v2_json_request([0] * 783), {}, 400, "holds 783 values"),
    ("too many values", v2_json_request([0] * 1568), {}, 400, "holds 1568 values"),
    ("data not array", v2_json_request("abc"), {}, 400, "must be an array of numbers"),
    (
        "no data",
        {"inputs": [{"name": "pixels", "shape": [1, 784], "datatype": "FP32"}]},
        {},
        400,
        "neither data nor",
    ),
    (
        "ragged data",
        v2_json_request([[0] * 28] * 27 + [[0] * 27], shape=(1, 28, 28)),
        {},
        400,
        "ragged",
    ),
    ("mixed nesting", v2_json_request([[0] * 784, 0], shape=(2, 784)), {}, 400, "mixes arrays"),
    ("too deep", v2_json_request([[[[0]]]]), {}, 400, "nested deeper"),
    ("string pixel", v2_json_request(["0"] * 784), {}, 400, "must be a number 0..255"),
    ("bool pixel", v2_json_request([True] + [0] * 783), {}, 400, "got boolean"),
    ("null pixel", v2_json_request([0] * 783 + [None]), {}, 400, "data[783]"),
    ("negative pixel", v2_json_request([0] * 10 + [-1] + [0] * 773), {}, 400, "data[10] is -1"),
    ("pixel 256", v2_json_request([256] + [0] * 783, datatype="FP32"), {}, 400, "0..255"),
    ("huge number", v2_json_request([10**30] + [0] * 783), {}, 400, "out of range"),
    ("fraction for UINT8", v2_json_request([0.5] + [0] * 783), {}, 400, "whole numbers"),
    ("too many images", v2_json_request([0] * 784 * 257, shape=(257, 784)), {}, 413, "at most 256"),
    ("id not string", v2_json_request(ZEROS, id=5), {}, 400, "id must be a string"),
    ("parameters not object", v2_json_request(ZEROS, parameters=[1]), {}, 400, "parameters"),
    (
        "binary_data_output not bool",
        v2_json_request(ZEROS, parameters={"binary_data_output": 1}),
        {},
        400,
        "must be true or false",
    ),
    (
        "unknown output",
        v2_json_request(ZEROS, outputs=[{"name": "logits"}]),
        {},
        400,
        "not an output of this model",
    ),
    ("outputs empty", v2_json_request(ZEROS, outputs=[]), {}, 400, "non-empty array"),
    (
        "duplicate output",
        v2_json_request(ZEROS, outputs=[{"name": "label"}] * 2),
        {},
        400,
        "requested twice",
    ),
    (
        "classification on label",
        v2_json_request(ZEROS, outputs=[{"name": "label", "parameters": {"classification": 2}}]),
        {},
        400,
        "classification applies to 'probabilities'",
    ),
    (
        "classification 11",
        v2_json_request(
            ZEROS, outputs=[{"name": "probabilities", "parameters": {"classification": 11}}]
        ),
        {},
        400,
        "class count 1..10",
    ),
    (
        "classification string",
        v2_json_request(
            ZEROS, outputs=[{"name": "probabilities", "parameters": {"classification": "3"}}]
        ),
        {},
        400,
        "class count",
    ),
    (
        "shared memory input",
        {
            "inputs": [
                {
                    "name": "pixels",
                    "shape": [1, 784],
                    "datatype": "UINT8",
                    "parameters": {"shared_memory_region": "r", "shared_memory_byte_size": 784},
                }
            ]
        },
        {},
        400,
        "shared memory",
    ),
    (
        "shared memory output",
        v2_json_request(
            ZEROS, outputs=[{"name": "label", "parameters": {"shared_memory_region": "r"}}]
        ),
        {},
        400,
        "shared memory",
    ),
    (
        "header length not a number",
        v2_json_request(ZEROS),
        {HEADER_LENGTH: "ten"},
        400,
        "must be a byte count",
    ),
    (
        "header length beyond body",
        v2_json_request(ZEROS),
        {HEADER_LENGTH: "999999"},
        400,
        "body has only",
    ),
    (
        "binary size beyond body",
        *_binary_body("UINT8", bytes(700), size=784),
        400,
        "only 700 bytes of binary data",
    ),
    ("binary size wrong for dtype", *_binary_body("FP32", bytes(784)), 400, "needs 3136"),
    (
        "binary trailing bytes",
        *_binary_body("UINT8", bytes(784), extra=b"xx"),
        400,
        "2 bytes of binary data",
    ),
    ("binary NaN", *_binary_body("FP32", np.full(784, np.nan, "<f4").tobytes()), 400, "nan"),
    ("binary 300", *_binary_body("INT32", np.full(784, 300, "<i4").tobytes()), 400, "300"),
    ("binary and data", *_binary_body("UINT8", bytes(784), data=[0] * 784), 400, "both data"),
    ("bad gzip", b"not gzip", {"Content-Encoding": "gzip"}, 400, "not valid gzip data"),
    (
        "gzip bomb",
        gzip.compress(bytes(5 * 1024 * 1024)),
        {"Content-Encoding": "gzip"},
        413,
        "decompressed request body is larger",
    ),
    (
        "unknown encoding",
        v2_json_request(ZEROS),
        {"Content-Encoding": "br"},
        415,
        "unsupported Content-Encoding",
    ),
]


@pytest.mark.parametrize(
    ("body", "headers", "status", "message"),
    [case[1:] for case in BAD_REQUESTS],
    ids=[case[0] for case in BAD_REQUESTS],
)
def test_bad_requests_get_a_json_error(server, body, headers, status, message):
    response = v2_post(server, "/v2/models/mlp/infer", body, headers)
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"] == "application/json"
    error = response.json()["error"]
    assert message in error
    assert server.get("/v2/health/live").status_code == 200


def test_deflate_raw_and_zlib_both_accepted(server, example_pixels):
    plain = json.dumps(v2_json_request(example_pixels)).encode()
    raw = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    bodies = [zlib.compress(plain), raw.compress(plain) + raw.flush()]
    for body in bodies:
        response = v2_post(server, "/v2/models/mlp/infer", body, {"Content-Encoding": "deflate"})
        assert response.status_code == 200
        assert response.json()["outputs"][1]["data"] == [5]


def test_wrong_method_is_405_with_allow(server):
    response = server.get("/v2/models/mlp/infer")
    assert response.status_code == 405
    assert "POST" in response.headers["Allow"]
    assert "error" in response.json()


def test_bytes_tensor_encoding_is_length_prefixed(server, example_pixels):
    body = v2_json_request(
        example_pixels,
        outputs=[
            {"name": "probabilities", "parameters": {"classification": 2, "binary_data": True}}
        ],
    )
    response = v2_post(server, "/v2/models/mlp/infer", body)
    size = int(response.headers[HEADER_LENGTH])
    tail = response.content[size:]
    first_len = struct.unpack("<I", tail[:4])[0]
    first = tail[4 : 4 + first_len].decode()
    assert first.endswith(":5")
    second_len = struct.unpack("<I", tail[4 + first_len : 8 + first_len])[0]
    assert len(tail) == 8 + first_len + second_len
