"""The optional bearer token, against a real Gunicorn started with MNIST_SERVE_API_TOKEN."""

from __future__ import annotations

import json

import pytest
import requests

from tests.conftest import start_server, stop_server
from tests.drawing import draw_digit, encode
from tests.http.test_ui import CHROMIUM_ARGS, browser, wait_for_predictions  # noqa: F401

TOKEN = "s3cret-token-for-tests"
INFERENCE = [
    ("/verify_vector_image", "seed"),
    ("/classify_image_vector", "seed"),
    ("/predict/image", "image"),
    ("/v2/models/mlp/infer", "v2"),
    ("/v1/models/mlp:predict", "tfserving"),
]
OPEN = [
    "/health/live",
    "/health/ready",
    "/v2/health/live",
    "/v2/health/ready",
    "/v2/models/mlp/ready",
    "/",
    "/static/app.js",
    "/openapi.json",
]
GUARDED_METADATA = ["/v2", "/v2/models/mlp", "/v1/models/mlp", "/v1/models/mlp/metadata"]


@pytest.fixture(scope="module")
def guarded():
    server = start_server({"MNIST_SERVE_API_TOKEN": TOKEN})
    yield server
    stop_server(server)


def post(server, path: str, body, ctype: str, token: str | None = None) -> requests.Response:
    headers = {"Content-Type": ctype}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    return requests.post(server.url + path, data=body, headers=headers, timeout=10)


def body_for(kind: str, pixels: list[int]) -> tuple[bytes | str, str]:
    if kind == "seed":
        return json.dumps({"image_vector": pixels}), "application/json"
    if kind == "image":
        return encode(draw_digit(7)), "image/png"
    if kind == "v2":
        tensor = {"name": "pixels", "shape": [1, 784], "datatype": "UINT8", "data": pixels}
        return json.dumps({"inputs": [tensor]}), "application/json"
    return json.dumps({"instances": [pixels]}), "application/json"


@pytest.mark.parametrize(("path", "kind"), INFERENCE)
def test_inference_without_a_token_is_a_json_401_with_a_bearer_challenge(
    guarded, example_pixels, path, kind
):
    body, ctype = body_for(kind, example_pixels)
    response = post(guarded, path, body, ctype)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert "Authorization: Bearer" in response.json()["error"]
    wrong = post(guarded, path, body, ctype, token="nope")
    assert wrong.status_code == 401
    assert 'error="invalid_token"' in wrong.headers["WWW-Authenticate"]


@pytest.mark.parametrize(("path", "kind"), INFERENCE)
def test_inference_with_the_token_answers(guarded, example_pixels, path, kind):
    body, ctype = body_for(kind, example_pixels)
    response = post(guarded, path, body, ctype, token=TOKEN)
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("path", OPEN)
def test_health_page_and_docs_stay_open(guarded, path):
    assert guarded.get(path).status_code == 200


@pytest.mark.parametrize("path", GUARDED_METADATA)
def test_model_metadata_needs_the_token_too(guarded, path):
    assert guarded.get(path).status_code == 401
    assert requests.get(
        guarded.url + path, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10
    ).ok


def test_the_document_says_which_operations_need_the_token(guarded):
    """Every operation the document marks with `security` answers 401 without a token, and
    every one it leaves open does not: the document and the server agree."""
    document = guarded.get("/openapi.json").json()
    assert document["components"]["securitySchemes"]["bearer"] == {
        "type": "http",
        "scheme": "bearer",
    }
    marked = set()
    for path, item in document["paths"].items():
        url = path.replace("{model_name}", "mlp").replace("{model_version}", "1")
        url = url.replace("{filename}", "app.js" if path.startswith("/static") else "x")
        for method, operation in item.items():
            guarded_op = "security" in operation
            assert ("401" in operation["responses"]) == guarded_op, (method, path)
            if guarded_op:
                marked.add(path)
            response = requests.request(method, guarded.url + url, timeout=10)
            assert (response.status_code == 401) == guarded_op, (method, path, response.status_code)
    assert {"/verify_vector_image", "/predict/image", "/v2/models/{model_name}/infer"} <= marked


def test_a_token_file_works_like_the_variable(tmp_path, example_pixels):
    secret = tmp_path / "token"
    secret.write_text(TOKEN + "\n")  # mounted secrets often end in a newline
    server = start_server({"MNIST_SERVE_API_TOKEN_FILE": str(secret)})
    try:
        body, ctype = body_for("seed", example_pixels)
        assert post(server, "/verify_vector_image", body, ctype).status_code == 401
        assert post(server, "/verify_vector_image", body, ctype, TOKEN).status_code == 200
    finally:
        stop_server(server)


def test_the_drawing_page_asks_for_the_token_once_and_then_predicts(browser, guarded, tmp_path):  # noqa: F811
    context = browser.new_context()
    page = context.new_page()
    asked: list[str] = []

    def answer(dialog):
        asked.append(dialog.message)
        dialog.accept(TOKEN)

    page.on("dialog", answer)
    page.goto(guarded.url + "/")
    page.get_by_test_id("prediction-mlp").wait_for()
    for digit in (7, 1):
        upload = tmp_path / f"{digit}.png"
        upload.write_bytes(encode(draw_digit(digit, size=300, stroke=30)))
        page.get_by_test_id("upload").set_input_files(str(upload))
        wait_for_predictions(page, str(digit))
    assert len(asked) == 1 and "token" in asked[0]
    context.close()
