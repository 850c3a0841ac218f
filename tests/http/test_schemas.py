"""The declared schemas and the hand-tuned parsers agree, checked over HTTP against the real server.

The judge is `jsonschema` applied to the request body schema of the live /openapi.json (the
components `http/schemas.py` generates); the parsers never see a schema, so this holds whatever
module the parsing lives in. Each body is generated valid, then maybe broken by one edit; the
judge classifies it, and the server must agree: schema-valid -> 2xx and an answer valid under
the documented response schema, schema-invalid -> a documented 4xx with an `Error` body.

Rules JSON Schema cannot say are kept by the generators, never broken by the edits (as in
`tests/fuzz_hooks.py`): V2 `data` holds prod(shape) values, nested evenly and no deeper than the
shape, whole numbers for integer datatypes, each output requested once.
"""

from __future__ import annotations

import json
import os
from typing import Any, NotRequired

import pytest
import requests
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match
from typing_extensions import TypedDict

from mnist_serve.http import schemas
from mnist_serve.http.tensors import V2_DTYPES

PIXELS, ROWS = 784, 28
MODELS = ["mlp", "xgboost", "ensemble"]
AGREEMENT = settings(
    max_examples=int(os.environ.get("MNIST_SERVE_AGREEMENT_EXAMPLES", "40")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


class Api:
    """The live server and its own document; a short repr, as hypothesis prints test arguments."""

    def __init__(self, url: str, document: dict[str, Any]) -> None:
        self.url = url
        self.document = document
        components = document["components"]["schemas"]
        self.input_name = components["V2RequestInput"]["properties"]["name"]["enum"][0]
        self.output_name = components["V2ProbabilitiesOutput"]["properties"]["name"]["enum"][0]

    def __repr__(self) -> str:
        return f"Api({self.url})"

    def validator(self, schema: dict[str, Any]) -> Draft202012Validator:
        return Draft202012Validator({**schema, "components": self.document["components"]})

    def check(self, path: str, template: str, body: Body, model: str = "") -> None:
        """POST the body; the server's verdict must be the schema's."""
        doc = body.value
        operation = self.document["paths"][template]["post"]
        request_schema = operation["requestBody"]["content"]["application/json"]["schema"]
        problem = best_match(self.validator(request_schema).iter_errors(doc))
        event("schema-invalid" if problem else "schema-valid")
        response = requests.post(
            self.url + path.format(model=model),
            data=json.dumps(doc),
            headers={"Content-Type": "application/json"},
            timeout=30,
        )
        status = str(response.status_code)
        if problem is None:
            assert status == "200", f"schema-valid, answered {status}: {response.text[:300]}"
            answer = operation["responses"]["200"]["content"]["application/json"]["schema"]
            if response.headers["Content-Type"] == "application/json":
                errors = list(self.validator(answer).iter_errors(response.json()))
                assert not errors, f"answer not as documented: {errors[0].message[:300]}"
            return
        where = "/".join(map(str, problem.absolute_path))
        assert status[0] == "4", f"schema-invalid at {where}: {problem.message[:150]}; got {status}"
        assert status in operation["responses"], f"undocumented {status}: {response.text[:300]}"
        errors = list(self.validator(ERROR).iter_errors(response.json()))
        assert not errors, f"error not as documented: {errors[0].message[:300]}"


ERROR = {"$ref": schemas.REF_PREFIX + "Error"}


@pytest.fixture(scope="module")
def api(server) -> Api:
    return Api(server.url, server.get("/openapi.json").json())


# --- valid parts --------------------------------------------------------------------------------

# The bounds themselves often: a schema one off from the parser must show.
PIXEL = st.sampled_from([0, 255, 0.0, 255.0]) | st.integers(0, 255) | st.floats(0, 255)
# Values no pixel may take, whichever the datatype, wherever they sit.
BAD_VALUE = st.sampled_from([-1, 256, 255.5, -0.25, 2**70, "7", None, True, {}])


@st.composite
def flat_images(draw, whole: bool = False) -> list:
    """784 values: one grey level and up to 4 others (cheap for hypothesis, still varied)."""
    value = st.sampled_from([0, 255]) | st.integers(0, 255) if whole else PIXEL
    image = [draw(value)] * PIXELS
    for i, v in draw(st.lists(st.tuples(st.integers(0, PIXELS - 1), value), max_size=4)):
        image[i] = v
    return image


def rows_of(flat: list) -> list[list]:
    return [flat[r * ROWS : (r + 1) * ROWS] for r in range(ROWS)]


@st.composite
def images(draw) -> list:
    flat = draw(flat_images())
    return rows_of(flat) if draw(st.booleans()) else flat


# --- one-edit breakages -------------------------------------------------------------------------


def _pixel_lists(node: Any) -> list[list]:
    """Every list of numbers (an image, a row, V2 data) inside a document."""
    if isinstance(node, dict):
        return [found for v in node.values() for found in _pixel_lists(v)]
    if isinstance(node, list):
        if node and all(type(v) in (int, float) for v in node):
            return [node]
        return [found for v in node for found in _pixel_lists(v)]
    return []


@st.composite
def bad_pixel(draw, doc: Any, at=lambda doc: doc) -> Any:
    """One pixel value in `at(doc)` (default: anywhere) made one no pixel may take."""
    doc = json.loads(json.dumps(doc))
    target = draw(st.sampled_from(_pixel_lists(at(doc))))
    target[draw(st.integers(0, len(target) - 1))] = draw(BAD_VALUE)
    return doc


@st.composite
def bad_length(draw, doc: Any) -> Any:
    """One image a value short or long: 784 -> 783/785 values, or a row of 28 -> 27/29."""
    doc = json.loads(json.dumps(doc))
    targets = _pixel_lists(doc)
    target = draw(st.sampled_from(targets))
    if draw(st.booleans()):
        target.pop()
    else:
        target.append(0)
    return doc


class Body:
    """A generated document; its repr (in a failure report) is a one-line summary, not 60 kB."""

    def __init__(self, value: Any) -> None:
        self.value = value

    def __repr__(self) -> str:
        text = json.dumps(self.value)
        return f"<{len(text)} bytes: {text[:150]}...{text[-150:]}>" if len(text) > 300 else text

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(repr(self))


def maybe_broken(valid: st.SearchStrategy, edits) -> st.SearchStrategy:
    """A valid document or, as often, one edit of it (`edits` maps a document to a strategy)."""
    return valid.flatmap(lambda doc: st.one_of(st.just(doc), edits(doc))).map(Body)


# --- the seed endpoint --------------------------------------------------------------------------

seed_documents = st.one_of(
    images().map(lambda image: {"image_vector": image}),
    st.lists(images(), min_size=1, max_size=3).map(lambda batch: {"image_vectors": batch}),
).flatmap(lambda doc: st.one_of(st.just(doc), st.just({**doc, "note": "extra keys are allowed"})))


def _seed_edits(doc: dict) -> st.SearchStrategy:
    key = "image_vector" if "image_vector" in doc else "image_vectors"
    value = doc[key]
    return st.one_of(
        bad_pixel(doc),
        bad_length(doc),
        st.just({"image": value}),  # misnamed
        st.just({"image_vector": [0] * PIXELS, "image_vectors": [[0] * PIXELS]}),  # both
        st.just({"image_vectors": []}),
        st.just({"image_vectors": [[0] * PIXELS] * 257}),  # above the default batch limit
        st.sampled_from([value, "image", None, 7]),  # not an object
    )


@AGREEMENT
@given(doc=maybe_broken(seed_documents, _seed_edits))
def test_seed_agrees_with_its_schema(api, doc):
    api.check("/verify_vector_image", "/verify_vector_image", doc)


# --- TF Serving ---------------------------------------------------------------------------------


@st.composite
def tf_documents(draw, input_name: str) -> dict:
    batch = draw(st.lists(images(), min_size=1, max_size=3))
    doc: dict[str, Any]
    if draw(st.booleans()):  # row format, each image bare or under the input name
        named = draw(st.lists(st.booleans(), min_size=len(batch), max_size=len(batch)))
        doc = {
            "instances": [{input_name: im} if n else im for im, n in zip(batch, named, strict=True)]
        }
    else:
        doc = {"inputs": {input_name: batch} if draw(st.booleans()) else batch}
    signature = draw(st.sampled_from([None, "serving_default", "with_label"]))
    return doc if signature is None else {"signature_name": signature, **doc}


def _tf_edits(doc: dict, input_name: str) -> st.SearchStrategy:
    form = "instances" if "instances" in doc else "inputs"
    other = "inputs" if form == "instances" else "instances"
    return st.one_of(
        bad_pixel(doc),
        bad_length(doc),
        st.just({**doc, other: doc[form]}),  # both formats
        st.just({k: v for k, v in doc.items() if k != form}),  # neither
        st.just({**doc, "signature_name": "nope"}),
        st.just({**doc, form: []}),
        st.just({**doc, form: {"not_the_input": [[0] * PIXELS]}}),
        st.just({**doc, form: [{input_name: [0] * PIXELS, "extra": [0] * PIXELS}]}),
        st.just({**doc, form: [0] * PIXELS}),  # one image sent as the batch
    )


@AGREEMENT
@given(model=st.sampled_from(MODELS), data=st.data())
def test_tf_serving_agrees_with_its_schema(api, model, data):
    edits = lambda doc: _tf_edits(doc, api.input_name)  # noqa: E731
    doc = data.draw(maybe_broken(tf_documents(api.input_name), edits))
    api.check("/v1/models/{model}:predict", "/v1/models/{model_name}:predict", doc, model)


# --- KServe V2 ----------------------------------------------------------------------------------

INTEGER_TYPES = [d for d in V2_DTYPES if not d.startswith("FP")]


@st.composite
def v2_documents(draw, input_name: str, output_name: str) -> dict:
    datatype = draw(st.sampled_from(list(V2_DTYPES)))
    n = draw(st.integers(1, 2))
    flat = [v for _ in range(n) for v in draw(flat_images(whole=datatype in INTEGER_TYPES))]
    shape = draw(st.sampled_from([[n, PIXELS], [n, ROWS, ROWS]]))
    per_image = [flat[i * PIXELS : (i + 1) * PIXELS] for i in range(n)]
    nestings = [flat, per_image] + ([[rows_of(im) for im in per_image]] if len(shape) == 3 else [])
    tensor: dict[str, Any] = {"name": input_name, "datatype": datatype, "shape": shape}
    tensor["data"] = draw(st.sampled_from(nestings))
    if draw(st.booleans()):
        tensor["parameters"] = {"priority": draw(st.integers(0, 3))}
    doc: dict[str, Any] = {"inputs": [tensor]}
    if draw(st.booleans()):
        doc["id"] = draw(st.text(max_size=8))
    if draw(st.booleans()):
        doc["parameters"] = {"binary_data_output": False, "note": "x"}
    outputs = draw(st.lists(st.sampled_from([output_name, "label"]), unique=True, max_size=2))
    if outputs:
        doc["outputs"] = [
            {"name": name, "parameters": {"classification": draw(st.integers(0, 10))}}
            if name == output_name and draw(st.booleans())
            else {"name": name}
            for name in outputs
        ]
    return doc


def _v2_edits(doc: dict) -> st.SearchStrategy:
    tensor = doc["inputs"][0]
    n = tensor["shape"][0]

    def with_tensor(**changes: Any) -> dict:
        return {**doc, "inputs": [{**tensor, **changes}]}

    return st.one_of(
        bad_pixel(doc, at=lambda d: d["inputs"][0]["data"]),
        st.just(with_tensor(name="not_the_input")),
        st.sampled_from(["BOOL", "BYTES", "FP128", 5]).map(lambda t: with_tensor(datatype=t)),
        st.sampled_from([[n, 783], [n, 28, 27], [0, PIXELS], [n], [257, PIXELS], "1,784"]).map(
            lambda shape: with_tensor(shape=shape)
        ),
        st.just(with_tensor(parameters={"shared_memory_region": "region0"})),
        st.just(with_tensor(parameters={"binary_data_size": PIXELS * n})),  # and data
        st.just(with_tensor(parameters="binary")),
        st.just({**doc, "inputs": []}),
        st.just({**doc, "inputs": [tensor, tensor]}),
        st.just({**doc, "id": 5}),
        st.just({**doc, "parameters": {"binary_data_output": "yes"}}),
        st.just({**doc, "outputs": []}),
        st.just({**doc, "outputs": [{"name": "nope"}]}),
        st.sampled_from([11, -1, 2.5, "3"]).map(
            lambda k: {**doc, "outputs": [{"name": "label", "parameters": {"classification": k}}]}
        ),
        st.just({**doc, "outputs": [{"name": "label", "parameters": {"binary_data": "yes"}}]}),
    )


@AGREEMENT
@given(model=st.sampled_from(MODELS), data=st.data())
def test_v2_agrees_with_its_schema(api, model, data):
    doc = data.draw(maybe_broken(v2_documents(api.input_name, api.output_name), _v2_edits))
    api.check("/v2/models/{model}/infer", "/v2/models/{model_name}/infer", doc, model)


# --- the generated components themselves (in-process: no parser involved) ----------------------

FACTS = schemas.Facts(
    seed_names=["mlp", "xgboost"],
    input_names=["pixels"],
    output_names=["probabilities"],
    max_batch=8,
)


def _nodes(node: Any):
    """Every dict inside `node`, with the key it sits under."""
    stack = [("", node)]
    while stack:
        key, value = stack.pop()
        if isinstance(value, dict):
            yield key, value
            stack.extend(value.items())
        elif isinstance(value, list):
            stack.extend((key, v) for v in value)


def test_components_are_openapi_31_schemas():
    """pydantic's `$defs` became components, refs point there, no marker or title is left."""
    components = schemas.components(FACTS)
    assert {getattr(b, "__name__", None) for b in schemas.BODIES} <= set(components)
    for key, node in _nodes(components):
        assert not {"$defs", "definitions", schemas.FILL, "nullable"} & set(node), key
        assert "title" not in node or key == "properties", key
        if "$ref" in node:
            name = node["$ref"].removeprefix(schemas.REF_PREFIX)
            assert name in components, node["$ref"]


def test_filled_in_from_the_loaded_models_and_settings():
    components = schemas.components(FACTS)
    assert components["SeedAnswer"]["required"] == ["mlp", "xgboost"]
    assert components["ImageAnswer"]["required"] == ["mlp", "xgboost", "image_vector", "image"]
    assert components["SeedBatch"]["properties"]["image_vectors"]["maxItems"] == 8
    assert components["V2RequestInput"]["properties"]["name"]["enum"] == ["pixels"]
    batch = components["V2RequestInput"]["properties"]["shape"]["oneOf"][0]["prefixItems"][0]
    assert batch == {"type": "integer", "minimum": 1, "maximum": 8}


class _Optional(TypedDict):
    count: NotRequired[int | None]
    tags: list[str | int]


def test_null_is_a_type_in_openapi_31_and_other_versions_are_refused():
    (optional,) = schemas.components(FACTS, bodies=(_Optional,)).values()
    assert optional["properties"]["count"] == {"type": ["integer", "null"]}
    assert optional["properties"]["tags"]["items"] == {"type": ["string", "integer"]}
    with pytest.raises(ValueError, match=r"OpenAPI 3\.1, not 3\.0\.3"):
        schemas.components(FACTS, "3.0.3")


def test_request_examples_are_valid_under_their_schemas(api):
    for name, example in api.document["components"]["examples"].items():
        errors = list(api.validator(schemas_ref(name)).iter_errors(example["value"]))
        assert not errors, (name, errors[:1])


def schemas_ref(name: str) -> dict[str, str]:
    return {"$ref": schemas.REF_PREFIX + name}


def test_every_request_example_is_declared_and_used(api):
    assert set(api.document["components"]["examples"]) == set(schemas.EXAMPLES)
