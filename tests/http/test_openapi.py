"""The OpenAPI document describes exactly the server's routes; /docs renders it with no CDN."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
import requests
from openapi_spec_validator import validate

from mnist_serve.config import load_settings
from mnist_serve.http import create_app
from mnist_serve.runtime import ModelRegistry
from tests.conftest import MODELS, served_version

HTTP_METHODS = {"get", "post", "put", "patch", "delete"}


@pytest.fixture(scope="module")
def document(server) -> dict:
    response = server.get("/openapi.json")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    return response.json()


def flask_path(rule: str) -> str:
    """`/v1/models/<segment:name>:predict` -> `/v1/models/{}:predict` (names differ by design)."""
    return re.sub(r"<(?:[^:>]+:)?[^>]+>", "{}", rule)


def openapi_path(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "{}", path)


def test_document_is_valid_openapi_31(document):
    assert document["openapi"] == "3.1.0"
    validate(document)  # the official OpenAPI 3.1 meta-schema, and every $ref resolves


def test_every_route_is_documented_and_every_documented_route_exists(document):
    """Adding a route without documenting it (or the reverse) fails here."""
    app = create_app(load_settings(model_dir=MODELS), ModelRegistry.load(MODELS))
    routes: set[tuple[str, str]] = set()
    for rule in app.url_map.iter_rules():
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            routes.add((flask_path(rule.rule), method.lower()))
    documented = {
        (openapi_path(path), method)
        for path, item in document["paths"].items()
        for method in item
        if method in HTTP_METHODS
    }
    assert routes == documented


def test_path_parameters_are_declared(document):
    for path, item in document["paths"].items():
        names = set(re.findall(r"\{([^}]+)\}", path))
        for method, operation in item.items():
            declared = {
                p["name"] if "name" in p else p["$ref"].rsplit("/", 1)[-1]
                for p in operation.get("parameters", [])
            }
            resolved = {
                document["components"]["parameters"][n]["name"]
                if n in document["components"]["parameters"]
                else n
                for n in declared
            }
            assert names <= resolved, (method, path)


def test_enums_follow_the_loaded_models(document):
    components = document["components"]
    assert components["parameters"]["ModelName"]["schema"]["enum"] == ["mlp", "xgboost", "ensemble"]
    versions = sorted({served_version(n) for n in ("mlp", "xgboost", "ensemble")})
    assert components["parameters"]["ModelVersion"]["schema"]["enum"] == versions
    seed = components["schemas"]["SeedAnswer"]
    assert seed["required"] == ["mlp", "xgboost"]  # the seed endpoint has no ensemble


def test_every_operation_documents_its_errors(document):
    for path, item in document["paths"].items():
        for method, operation in item.items():
            responses = operation["responses"]
            assert "200" in responses, (method, path)
            if "{model_name}" in path:
                assert "404" in responses, (method, path)
            if method == "post":
                assert {"400", "413"} <= set(responses), (method, path)


@pytest.mark.parametrize("model", ["mlp", "xgboost", "ensemble"])
def test_request_examples_work_and_read_a_one(server, document, model):
    """The examples "Try it out" on /docs sends: each is accepted and classified as a 1."""
    examples = {k: v["value"] for k, v in document["components"]["examples"].items()}
    seed = requests.post(
        f"{server.url}/verify_vector_image", json=examples["SeedRequest"], timeout=10
    )
    assert {a["predicted_number"] for a in seed.json().values()} == {1}
    v2 = requests.post(
        f"{server.url}/v2/models/{model}/infer", json=examples["V2InferenceRequest"], timeout=10
    )
    outputs = {o["name"]: o for o in v2.json()["outputs"]}
    assert outputs["label"]["data"] == [1]
    assert outputs["probabilities"]["data"][0].endswith(":1")
    tf = requests.post(
        f"{server.url}/v1/models/{model}:predict", json=examples["TFPredictRequest"], timeout=10
    )
    assert tf.json()["predictions"][0]["label"] == 1


def test_document_is_stable_across_requests(server, document):
    assert server.get("/openapi.json").json() == document


# --- /docs -------------------------------------------------------------------------------------


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.inline_scripts = 0
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        for key in ("src", "href"):
            if attrs.get(key):
                self.urls.append(attrs[key])
        self._in_script = tag == "script" and "src" not in attrs

    def handle_data(self, data):
        if self._in_script and data.strip():
            self.inline_scripts += 1

    def handle_endtag(self, tag):
        self._in_script = False


def test_docs_page_loads_only_local_assets(server):
    response = server.get("/docs")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/html")
    assert "default-src 'self'" in response.headers["Content-Security-Policy"]
    page = _Links()
    page.feed(response.text)
    assert page.inline_scripts == 0  # the CSP allows none
    assert len(page.urls) >= 4
    assert 'data-openapi-url="/openapi.json"' in response.text
    for url in page.urls:
        assert url.startswith("/docs/assets/"), url  # nothing from another host
        asset = server.get(url)
        assert asset.status_code == 200, url
        assert len(asset.content) > 100


def test_docs_with_a_trailing_slash_is_the_same_page(server):
    assert server.get("/docs/").text == server.get("/docs").text


def test_swagger_ui_assets_are_the_real_files(server):
    bundle = server.get("/docs/assets/swagger-ui-bundle.js")
    assert bundle.headers["Content-Type"].startswith("text/javascript")
    assert len(bundle.content) > 500_000 and b"SwaggerUIBundle" in bundle.content
    css = server.get("/docs/assets/swagger-ui.css")
    assert css.headers["Content-Type"].startswith("text/css")
    assert b".swagger-ui" in css.content
    init = server.get("/docs/assets/docs-init.js").text
    assert "SwaggerUIBundle(" in init and "validatorUrl: null" in init


@pytest.mark.parametrize("name", ["nope.js", "..%2Fopenapi.py", "LICENSE", "oauth2-redirect.html"])
def test_only_listed_assets_are_served(server, name):
    response = server.get(f"/docs/assets/{name}")
    assert response.status_code == 404
    assert "error" in response.json()
