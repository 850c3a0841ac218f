"""`GET /openapi.json`: an OpenAPI 3.1 document of every endpoint this server answers.

`PATHS` is the one place where endpoints are declared, one `op(...)` per method; the bodies'
schemas come from `schemas.py` (declared once, as code). `tests/http/test_openapi.py` fails while
a route of the app is missing from the document or the document names a route the app lacks.
Enums (model names, versions, input names) and batch limits are filled in from the loaded
registry and the settings, so the document describes exactly what this server accepts.

Adding a route is one line in `PATHS`:
    "/metrics": {"get": op("health", "Prometheus metrics", file_ok("Metrics.", ["text/plain"]))},
with a JSON answer, declare its body in `schemas.py` (a TypedDict, listed in `BODIES`) and use
`json_ok("Description.", "ItsName")`; error codes follow the 200 (`op(..., 404, 413)`), and a new
code gets its sentence in `ERRORS`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Blueprint, current_app

from mnist_serve.http import auth, schemas
from mnist_serve.http.docs import ASSETS
from mnist_serve.http.responses import json_response
from mnist_serve.http.tfserving import DEFAULT_SIGNATURE, LABEL_SIGNATURE
from mnist_serve.http.ui import STATIC
from mnist_serve.http.v2 import HEADER_LENGTH, server_version
from mnist_serve.runtime import ModelRegistry

bp = Blueprint("openapi", __name__)

OPENAPI_VERSION = "3.1.0"
JSON = "application/json"
BINARY = "application/octet-stream"
COMPRESSED = "Bodies may be gzip or deflate compressed (`Content-Encoding`)."
PAGE_FILES = sorted(p.name for p in STATIC.iterdir() if p.is_file())

TAGS = {
    "seed": "The original example's endpoint, kept as it was.",
    "health": "Liveness and readiness.",
    "images": "Images in (PNG, JPEG, GIF, BMP), and the drawing page that sends them.",
    "KServe V2": "Open Inference Protocol, REST.",
    "TF Serving": "TensorFlow Serving's REST API.",
    "docs": "This document and its viewer.",
}
# Error answers by status (all with the `Error` body); an operation lists the codes it can give.
ERRORS = {
    400: "Bad input: `error` says what is wrong and where (field, index).",
    404: "No such model, version or route.",
    413: "Body or batch larger than the server's limits.",
    415: "Unsupported Content-Type or Content-Encoding.",
}


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"{schemas.REF_PREFIX}{name}"}


def op(tag: str, summary: str, ok: dict[str, Any], *errors: int, **fields: Any) -> dict[str, Any]:
    """One operation: its 200 answer (`json_ok`, `file_ok`, `EMPTY_OK`), the error codes it may
    give, and any other OpenAPI operation field (description, parameters, requestBody)."""
    responses = {"200": ok, **{str(c): {"$ref": f"#/components/responses/E{c}"} for c in errors}}
    return {"tags": [tag], "summary": summary, **fields, "responses": responses}


def json_ok(description: str, schema: str | dict[str, Any]) -> dict[str, Any]:
    """A 200 with a JSON body: a component name of `schemas.py`, or an inline schema."""
    body = ref(schema) if isinstance(schema, str) else schema
    return {"description": description, "content": {JSON: {"schema": body}}}


def file_ok(description: str, mimetypes: list[str]) -> dict[str, Any]:
    content = {m: {"schema": {"type": "string"}} for m in mimetypes}
    return {"description": description, "content": content}


def body(*media: tuple[str, dict[str, Any]]) -> dict[str, Any]:
    """A required request body; a JSON body with a request example (`schemas.EXAMPLES`) gets it."""
    content = {}
    for mimetype, schema in media:
        name = schema.get("$ref", "").rsplit("/", 1)[-1]
        examples = {"examples": {"a one": {"$ref": f"#/components/examples/{name}"}}}
        has_example = mimetype == JSON and name in schemas.EXAMPLES
        content[mimetype] = {"schema": schema, **(examples if has_example else {})}
    return {"required": True, "content": content}


def binary(description: str) -> tuple[str, dict[str, Any]]:
    return BINARY, {"type": "string", "format": "binary", "description": description}


def path_enum(name: str, values: list[str]) -> dict[str, Any]:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "schema": {"type": "string", "enum": values},
    }


EMPTY_OK = {"description": "Yes (the status code is the answer; the body is empty)."}
HTML_OK = file_ok("HTML page.", ["text/html"])
MODEL = [{"$ref": "#/components/parameters/ModelName"}]
MODEL_VERSION = [*MODEL, {"$ref": "#/components/parameters/ModelVersion"}]
LENGTH_HEADER = {
    "description": "Length of the JSON part when binary tensor data follows it.",
    "schema": {"type": "integer", "minimum": 0},
}


def _versions(base: str, suffix: str, make: Callable[[list[dict[str, Any]]], dict[str, Any]]):
    """The same path item with and without `/versions/{model_version}` (`make(parameters)`)."""
    return {
        f"{base}{suffix}": make(MODEL),
        f"{base}/versions/{{model_version}}{suffix}": make(MODEL_VERSION),
    }


# --- operations that need more than a line -----------------------------------------------------

SEED = dict(
    description=(
        "Both manifest models' answers for one image (`image_vector`, an object per model) or a "
        "batch (`image_vectors`, a list of such objects). A raw body of uint8 pixels "
        "(`application/octet-stream`, 784 bytes per image) is accepted too; with more than one "
        "image the answer is a list."
    ),
    requestBody=body(
        (JSON, ref("SeedRequest")), binary("uint8 pixels, 784 bytes per image, row-major.")
    ),
    parameters=[
        {
            "name": "output",
            "in": "query",
            "required": False,
            "description": "`labels`: only each model's `predicted_number` (smaller answers for "
            "large batches); `full` (default) adds `confidence` and `probabilities`.",
            "schema": {"type": "string", "enum": ["full", "labels"], "default": "full"},
        }
    ],
)
SEED_OK = json_ok("Each model's predicted digit, confidence and probabilities.", "SeedResponse")
IMAGE = dict(
    description=(
        "The image is preprocessed the way MNIST was made (greyscale, inverted if dark on "
        "light, cropped to the ink, fitted to 20x20, centred by mass in 28x28) and sent to "
        "both models. The answer is the seed's plus `image_vector`, the 28x28 grey levels "
        "the models saw, and facts about the decoded `image`. The format is read from the "
        "bytes; the body limit is MNIST_SERVE_MAX_IMAGE_BYTES. A browser form may send the "
        "same file as the multipart/form-data field `image` (not described as a media type "
        "here: a schema cannot say a form's file must be an image)."
    ),
    requestBody=body(
        *(
            (m, {"type": "string", "format": "binary"})
            for m in ("image/png", "image/jpeg", "image/gif", "image/bmp")
        )
    ),
)


def _v2_infer(parameters: list[dict[str, Any]]) -> dict[str, Any]:
    header = {"name": HEADER_LENGTH, "in": "header", "required": False, **LENGTH_HEADER}
    ok = {
        "description": "The requested outputs (default: probabilities and label).",
        "headers": {
            HEADER_LENGTH: {
                **LENGTH_HEADER,
                "description": "Present when binary outputs follow the JSON part.",
            }
        },
        "content": {
            JSON: {"schema": ref("V2InferenceResponse")},
            BINARY: {"schema": {"type": "string", "format": "binary"}},
        },
    }
    description = (
        "One input tensor of pixel values 0..255, shape `[n, 784]` or `[n, 28, 28]`. "
        "With the binary tensor data extension the body is the JSON request "
        f"(`{HEADER_LENGTH}` bytes) followed by the raw little-endian tensor; outputs asked "
        "for with `binary_data` come back the same way. `classification: k` on the "
        'probabilities output returns the top k as `"<probability>:<digit>"` strings. ' + COMPRESSED
    )
    request = body(
        (JSON, ref("V2InferenceRequest")),
        binary(f"JSON request ({HEADER_LENGTH} bytes), then tensor bytes."),
    )
    summary = "Inference (JSON, or JSON plus binary tensor data)"
    return {"post": op("KServe V2", summary, ok, 400, 404, 413, 415, description=description,
                       parameters=[*parameters, header], requestBody=request)}  # fmt: skip


TF_PREDICT = dict(
    description=(
        f"`{DEFAULT_SIGNATURE}` answers the probabilities; `{LABEL_SIGNATURE}` adds the "
        "predicted digit (`label`). Row format answers `predictions`, columnar `outputs`. "
        + COMPRESSED
    ),
    requestBody=body((JSON, ref("TFPredictRequest"))),
)

V2, TF = "KServe V2", "TF Serving"
M = "/v2/models/{model_name}"
T = "/v1/models/{model_name}"

# Every endpoint, in the order a reader meets them: one line per operation (see `op`).
PATHS: dict[str, Any] = {
    "/verify_vector_image": {"post": op("seed", "Classify one image or a batch", SEED_OK, 400, 413, 415, **SEED)},
    "/classify_image_vector": {"post": op("seed", "Same as /verify_vector_image (the seed's second name)", SEED_OK, 400, 413, 415, **SEED)},
    "/health/live": {"get": op("health", "Liveness", json_ok("The process serves requests.", "Live"))},
    "/health/ready": {"get": op("health", "Readiness: every model loaded, verified and warmed", json_ok("Ready.", "Ready"))},
    "/metrics": {"get": op("health", "Prometheus metrics, summed over every worker (absent with MNIST_SERVE_METRICS=false)", file_ok("Prometheus text format 0.0.4.", ["text/plain"]))},
    "/predict/image": {"post": op("images", "Classify a PNG, JPEG, GIF or BMP image of a digit", json_ok("Both models' answers and the 28x28 input.", "ImageAnswer"), 400, 413, 415, **IMAGE)},
    "/": {"get": op("images", "A page to draw or upload a digit and see both models' answers", HTML_OK)},
    "/static/{filename}": {"get": op("images", "The page's script, style sheet and icon", file_ok("The file.", ["text/html", "text/javascript", "text/css", "image/svg+xml"]), 404, parameters=[path_enum("filename", PAGE_FILES)])},
    "/v2": {"get": op(V2, "Server metadata", json_ok("Server metadata.", "V2ServerMetadata"))},
    "/v2/health/live": {"get": op(V2, "Server live", EMPTY_OK)},
    "/v2/health/ready": {"get": op(V2, "Server ready", EMPTY_OK)},
    **_versions(M, "", lambda p: {"get": op(V2, "Model metadata", json_ok("Model metadata.", "V2ModelMetadata"), 404, parameters=p)}),
    **_versions(M, "/ready", lambda p: {"get": op(V2, "Model ready", EMPTY_OK, 404, parameters=p)}),
    **_versions(M, "/infer", _v2_infer),
    **_versions(T, "", lambda p: {"get": op(TF, "Model version status", json_ok("Version status.", "TFModelStatus"), 404, parameters=p)}),
    **_versions(T, "/metadata", lambda p: {"get": op(TF, "Model metadata (signatures)", json_ok("Signature definitions.", "TFModelMetadata"), 404, parameters=p)}),
    **_versions(T, ":predict", lambda p: {"post": op(TF, "Predict, row (`instances`) or columnar (`inputs`) format", json_ok("Predictions.", "TFPredictResponse"), 400, 404, 413, 415, parameters=p, **TF_PREDICT)}),
    "/openapi.json": {"get": op("docs", "This OpenAPI document", json_ok("OpenAPI 3.1 document.", {"type": "object"}))},
    "/docs": {"get": op("docs", "Swagger UI for this document (no CDN: assets come from this server)", HTML_OK)},
    "/docs/assets/{filename}": {"get": op("docs", "Swagger UI asset", file_ok("The file.", sorted(set(ASSETS.values()))), 404, parameters=[path_enum("filename", sorted(ASSETS))])},
}  # fmt: skip


def facts_of(registry: ModelRegistry, max_batch: int) -> schemas.Facts:
    return schemas.Facts(
        seed_names=[m.name for m in registry.models],
        input_names=sorted({m.metadata["input"]["name"] for m in registry.served}),
        output_names=sorted({m.metadata["output"]["name"] for m in registry.served}),
        max_batch=max_batch,
    )


def build_document(registry: ModelRegistry, max_batch: int) -> dict[str, Any]:
    """The whole document for this server's models and limits."""
    names = [m.name for m in registry.served]
    versions = sorted({m.version for m in registry.served})
    first = registry.served[0].metadata
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": "mnist-serve",
            "version": server_version(),
            "description": (
                "MNIST digit classifiers (" + ", ".join(names) + ") behind the seed's "
                "endpoint, KServe V2 (Open Inference Protocol) and TF Serving's REST API. "
                "Pixels are grey levels 0..255 everywhere. `ensemble` averages the other "
                "models' probabilities."
            ),
        },
        "tags": [{"name": name, "description": text} for name, text in TAGS.items()],
        "paths": PATHS,
        "components": {
            "parameters": {
                "ModelName": path_enum("model_name", names),
                "ModelVersion": {
                    **path_enum("model_version", versions),
                    "description": "A loaded version; any other gives 404.",
                },
            },
            "responses": {
                f"E{code}": {"description": text, "content": {JSON: {"schema": ref("Error")}}}
                for code, text in ERRORS.items()
            },
            "schemas": schemas.components(facts_of(registry, max_batch), OPENAPI_VERSION),
            "examples": schemas.request_examples(first["input"]["name"], first["output"]["name"]),
        },
    }


@bp.get("/openapi.json")
def document():
    # Built once per registry: a model rollout swaps the registry, and the version enums with it.
    registry = current_app.extensions["mnist_registry"]
    built_for, cached = current_app.extensions.get("mnist_openapi", (None, None))
    if built_for is not registry:
        settings = current_app.config["SETTINGS"]
        cached = build_document(registry, settings.max_batch)
        if settings.token() is not None:
            cached = auth.documented(cached, current_app)
        current_app.extensions["mnist_openapi"] = (registry, cached)
    return json_response(cached)
