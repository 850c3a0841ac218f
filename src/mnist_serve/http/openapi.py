"""`GET /openapi.json`: an OpenAPI 3.1 document of every endpoint this server answers.

`PATHS` below is the one place where endpoints are declared: a new route adds its entry there
(and its schemas to `_schemas`); `tests/http/test_openapi.py` fails while a route of the app is
missing from the document or the document names a route the app does not have.
The enums (model names, versions, input names) and batch limits are filled in from the loaded
registry and the settings, so the document describes exactly what this server accepts.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app

from mnist_serve.data import IMAGE_SHAPE, N_CLASSES, N_PIXELS
from mnist_serve.http.docs import ASSETS
from mnist_serve.http.responses import json_response
from mnist_serve.http.tensors import LABEL_OUTPUT, V2_DTYPES
from mnist_serve.http.tfserving import DEFAULT_SIGNATURE, LABEL_SIGNATURE
from mnist_serve.http.ui import STATIC
from mnist_serve.http.v2 import EXTENSIONS, HEADER_LENGTH, server_version
from mnist_serve.runtime import ModelRegistry

bp = Blueprint("openapi", __name__)

PAGE_FILES = [p.name for p in STATIC.iterdir() if p.is_file()]

OPENAPI_VERSION = "3.1.0"
JSON = "application/json"
BINARY = "application/octet-stream"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json_body(schema: dict[str, Any]) -> dict[str, Any]:
    return {"content": {JSON: {"schema": schema}}}


def _ok(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, **_json_body(schema)}


def _errors(*codes: int) -> dict[str, Any]:
    return {str(code): {"$ref": f"#/components/responses/E{code}"} for code in codes}


def _param(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/parameters/{name}"}


def _example(name: str) -> dict[str, Any]:
    """A request example (a drawn "1"), so "Try it out" on /docs works as it stands."""
    return {"examples": {"a one": {"$ref": f"#/components/examples/{name}"}}}


_EMPTY_OK = {"description": "Yes (the status code is the answer; the body is empty)."}

# --- operations -------------------------------------------------------------------------------

_SEED = {
    "tags": ["seed"],
    "description": (
        "Both manifest models' answers for one image (`image_vector`, an object per model) or a "
        "batch (`image_vectors`, a list of such objects). A raw body of uint8 pixels "
        "(`application/octet-stream`, 784 bytes per image) is accepted too; with more than one "
        "image the answer is a list."
    ),
    "requestBody": {
        "required": True,
        "content": {
            JSON: {"schema": _ref("SeedRequest"), **_example("SeedRequest")},
            BINARY: {
                "schema": {
                    "type": "string",
                    "format": "binary",
                    "description": "uint8 pixels, 784 bytes per image, row-major.",
                }
            },
        },
    },
    "responses": {
        "200": _ok(
            "Each model's predicted digit, confidence and probabilities.",
            {"oneOf": [_ref("SeedAnswer"), {"type": "array", "items": _ref("SeedAnswer")}]},
        ),
        **_errors(400, 413, 415),
    },
}


def _v2_model_op(summary: str, versioned: bool, **operation: Any) -> dict[str, Any]:
    params = [_param("ModelName")] + ([_param("ModelVersion")] if versioned else [])
    return {"tags": ["KServe V2"], "summary": summary, "parameters": params, **operation}


def _v2_infer(versioned: bool) -> dict[str, Any]:
    return _v2_model_op(
        "Inference (JSON, or JSON plus binary tensor data)",
        versioned,
        description=(
            "One input tensor of pixel values 0..255, shape `[n, 784]` or `[n, 28, 28]`. "
            "With the binary tensor data extension the body is the JSON request "
            f"(`{HEADER_LENGTH}` bytes) followed by the raw little-endian tensor; outputs asked "
            "for with `binary_data` come back the same way. `classification: k` on the "
            'probabilities output returns the top k as `"<probability>:<digit>"` strings. '
            "Bodies may be gzip or deflate compressed (`Content-Encoding`)."
        ),
        parameters=[
            _param("ModelName"),
            *([_param("ModelVersion")] if versioned else []),
            {
                "name": HEADER_LENGTH,
                "in": "header",
                "required": False,
                "description": "Length of the JSON part when binary tensor data follows it.",
                "schema": {"type": "integer", "minimum": 0},
            },
        ],
        requestBody={
            "required": True,
            "content": {
                JSON: {"schema": _ref("V2InferenceRequest"), **_example("V2InferenceRequest")},
                BINARY: {
                    "schema": {
                        "type": "string",
                        "format": "binary",
                        "description": f"JSON request ({HEADER_LENGTH} bytes), then tensor bytes.",
                    }
                },
            },
        },
        responses={
            "200": {
                "description": "The requested outputs (default: probabilities and label).",
                "headers": {
                    HEADER_LENGTH: {
                        "description": "Present when binary outputs follow the JSON part.",
                        "schema": {"type": "integer", "minimum": 0},
                    }
                },
                "content": {
                    JSON: {"schema": _ref("V2InferenceResponse")},
                    BINARY: {"schema": {"type": "string", "format": "binary"}},
                },
            },
            **_errors(400, 404, 413, 415),
        },
    )


def _tf_op(summary: str, versioned: bool, **operation: Any) -> dict[str, Any]:
    params = [_param("ModelName")] + ([_param("ModelVersion")] if versioned else [])
    return {"tags": ["TF Serving"], "summary": summary, "parameters": params, **operation}


def _tf_predict(versioned: bool) -> dict[str, Any]:
    return _tf_op(
        "Predict, row (`instances`) or columnar (`inputs`) format",
        versioned,
        description=(
            f"`{DEFAULT_SIGNATURE}` answers the probabilities; `{LABEL_SIGNATURE}` adds the "
            "predicted digit (`label`). Row format answers `predictions`, columnar `outputs`. "
            "Bodies may be gzip or deflate compressed (`Content-Encoding`)."
        ),
        requestBody={
            "required": True,
            "content": {JSON: {"schema": _ref("TFPredictRequest"), **_example("TFPredictRequest")}},
        },
        responses={
            "200": _ok("Predictions.", _ref("TFPredictResponse")),
            **_errors(400, 404, 413, 415),
        },
    )


def _both_versions(base: str, suffix: str, make: Any) -> dict[str, Any]:
    """The same operation with and without `/versions/{model_version}`."""
    return {
        f"{base}{suffix}": make(False),
        f"{base}/versions/{{model_version}}{suffix}": make(True),
    }


# Every endpoint, in the order a reader meets them. New routes are declared here.
PATHS: dict[str, Any] = {
    # Seed endpoints (the original example's contract) and health.
    "/verify_vector_image": {"post": {**_SEED, "summary": "Classify one image or a batch"}},
    "/classify_image_vector": {
        "post": {**_SEED, "summary": "Same as /verify_vector_image (the seed's second name)"}
    },
    "/metrics": {
        "get": {
            "tags": ["health"],
            "summary": "Prometheus metrics, summed over all workers (absent with MNIST_SERVE_METRICS=false)",
            "responses": {
                "200": {
                    "description": "Prometheus text exposition format 0.0.4.",
                    "content": {"text/plain": {"schema": {"type": "string"}}},
                }
            },
        }
    },
    "/health/live": {
        "get": {
            "tags": ["health"],
            "summary": "Liveness",
            "responses": {"200": _ok("The process serves requests.", _ref("Live"))},
        }
    },
    "/health/ready": {
        "get": {
            "tags": ["health"],
            "summary": "Readiness: every model loaded, verified and warmed",
            "responses": {"200": _ok("Ready.", _ref("Ready")), **_errors(503)},
        }
    },
    # Images in, and the drawing page that sends them.
    "/predict/image": {
        "post": {
            "tags": ["images"],
            "summary": "Classify a PNG, JPEG, GIF or BMP image of a digit",
            "description": (
                "The image is preprocessed the way MNIST was made (greyscale, inverted if dark on "
                "light, cropped to the ink, fitted to 20x20, centred by mass in 28x28) and sent to "
                "both models. The answer is the seed's plus `image_vector`, the 28x28 grey levels "
                "the models saw, and facts about the decoded `image`. The format is read from the "
                "bytes; the body limit is MNIST_SERVE_MAX_IMAGE_BYTES. A browser form may send the "
                "same file as the multipart/form-data field `image` (not described as a media type "
                "here: a schema cannot say a form's file must be an image)."
            ),
            "requestBody": {
                "required": True,
                "content": {
                    **{
                        mimetype: {"schema": {"type": "string", "format": "binary"}}
                        for mimetype in ("image/png", "image/jpeg", "image/gif", "image/bmp")
                    },
                },
            },
            "responses": {
                "200": _ok("Both models' answers and the 28x28 input.", _ref("ImageAnswer")),
                **_errors(400, 413, 415),
            },
        }
    },
    "/": {
        "get": {
            "tags": ["images"],
            "summary": "A page to draw or upload a digit and see both models' answers",
            "responses": {
                "200": {
                    "description": "HTML page.",
                    "content": {"text/html": {"schema": {"type": "string"}}},
                }
            },
        }
    },
    "/static/{filename}": {
        "get": {
            "tags": ["images"],
            "summary": "The page's script, style sheet and icon",
            "parameters": [
                {
                    "name": "filename",
                    "in": "path",
                    "required": True,
                    "schema": {"type": "string", "enum": sorted(PAGE_FILES)},
                }
            ],
            "responses": {
                "200": {
                    "description": "The file.",
                    "content": {
                        mimetype: {"schema": {"type": "string"}}
                        for mimetype in (
                            "text/html",
                            "text/javascript",
                            "text/css",
                            "image/svg+xml",
                        )
                    },
                },
                **_errors(404),
            },
        }
    },
    # KServe V2 / Open Inference Protocol.
    "/v2": {
        "get": {
            "tags": ["KServe V2"],
            "summary": "Server metadata",
            "responses": {"200": _ok("Server metadata.", _ref("V2ServerMetadata"))},
        }
    },
    "/v2/health/live": {
        "get": {"tags": ["KServe V2"], "summary": "Server live", "responses": {"200": _EMPTY_OK}}
    },
    "/v2/health/ready": {
        "get": {
            "tags": ["KServe V2"],
            "summary": "Server ready",
            "responses": {"200": _EMPTY_OK, **_errors(503)},
        }
    },
    **_both_versions(
        "/v2/models/{model_name}",
        "",
        lambda v: {
            "get": _v2_model_op(
                "Model metadata",
                v,
                responses={
                    "200": _ok("Model metadata.", _ref("V2ModelMetadata")),
                    **_errors(404),
                },
            )
        },
    ),
    **_both_versions(
        "/v2/models/{model_name}",
        "/ready",
        lambda v: {
            "get": _v2_model_op("Model ready", v, responses={"200": _EMPTY_OK, **_errors(404)})
        },
    ),
    **_both_versions("/v2/models/{model_name}", "/infer", lambda v: {"post": _v2_infer(v)}),
    # TensorFlow Serving REST API.
    **_both_versions(
        "/v1/models/{model_name}",
        "",
        lambda v: {
            "get": _tf_op(
                "Model version status",
                v,
                responses={"200": _ok("Version status.", _ref("TFModelStatus")), **_errors(404)},
            )
        },
    ),
    **_both_versions(
        "/v1/models/{model_name}",
        "/metadata",
        lambda v: {
            "get": _tf_op(
                "Model metadata (signatures)",
                v,
                responses={
                    "200": _ok("Signature definitions.", _ref("TFModelMetadata")),
                    **_errors(404),
                },
            )
        },
    ),
    **_both_versions("/v1/models/{model_name}", ":predict", lambda v: {"post": _tf_predict(v)}),
    # This document and its viewer.
    "/openapi.json": {
        "get": {
            "tags": ["docs"],
            "summary": "This OpenAPI document",
            "responses": {"200": _ok("OpenAPI 3.1 document.", {"type": "object"})},
        }
    },
    "/docs": {
        "get": {
            "tags": ["docs"],
            "summary": "Swagger UI for this document (no CDN: assets come from this server)",
            "responses": {
                "200": {
                    "description": "HTML page.",
                    "content": {"text/html": {"schema": {"type": "string"}}},
                }
            },
        }
    },
    "/docs/assets/{filename}": {
        "get": {
            "tags": ["docs"],
            "summary": "Swagger UI asset",
            "parameters": [
                {
                    "name": "filename",
                    "in": "path",
                    "required": True,
                    "schema": {"type": "string", "enum": sorted(ASSETS)},
                }
            ],
            "responses": {
                "200": {
                    "description": "The file.",
                    "content": {
                        mimetype: {"schema": {"type": "string"}}
                        for mimetype in sorted(set(ASSETS.values()))
                    },
                },
                **_errors(404),
            },
        }
    },
}

# --- components -------------------------------------------------------------------------------

_ERRORS = {
    400: "Bad input: `error` says what is wrong and where (field, index).",
    404: "No such model, version or route.",
    413: "Body or batch larger than the server's limits.",
    415: "Unsupported Content-Type or Content-Encoding.",
    503: "Models not loaded yet.",
}


STRING = {"type": "string"}
BOOLEAN = {"type": "boolean"}
SCALAR = {"type": ["string", "number", "boolean"]}


def _object(properties: dict[str, Any], *required: str, **keywords: Any) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object"}
    if required:
        schema["required"] = list(required)
    return {**schema, "properties": properties, **keywords}


def _array(items: Any, min_items: int | None = None, max_items: int | None = None) -> dict:
    schema: dict[str, Any] = {"type": "array", "items": items}
    if min_items is not None:
        schema["minItems"] = min_items
    if max_items is not None:
        schema["maxItems"] = max_items
    return schema


def _range(kind: str, low: int, high: int) -> dict[str, Any]:
    return {"type": kind, "minimum": low, "maximum": high}


def _parameters(**known: Any) -> dict[str, Any]:
    """A V2 `parameters` object: the keys we read, any other scalar allowed."""
    return {"type": "object", "properties": known, "additionalProperties": SCALAR}


def _schemas(registry: ModelRegistry, max_batch: int) -> dict[str, Any]:
    seed_names = [m.name for m in registry.models]
    input_names = sorted({m.metadata["input"]["name"] for m in registry.served})
    output_names = sorted({m.metadata["output"]["name"] for m in registry.served})
    rows, cols = IMAGE_SHAPE
    pixel = _range("number", 0, 255)
    batch = _range("integer", 1, max_batch)
    probabilities = _array(_range("number", 0, 1), N_CLASSES, N_CLASSES)
    digit = _range("integer", 0, N_CLASSES - 1)
    images = _array(_ref("Image"), 1, max_batch)
    named_image = {
        "type": "object",
        "description": "The image under the model's input name.",
        "propertyNames": {"enum": input_names},
        "minProperties": 1,
        "maxProperties": 1,
        "additionalProperties": _ref("Image"),
    }
    tensor_info = _object(
        {
            "dtype": STRING,
            "name": STRING,
            "tensor_shape": _object(
                {
                    "dim": _array(_object({"size": STRING, "name": STRING})),
                    "unknown_rank": BOOLEAN,
                }
            ),
        },
        "dtype",
        "tensor_shape",
        "name",
    )
    signature = _object(
        {
            "inputs": {"type": "object", "additionalProperties": _ref("TFTensorInfo")},
            "outputs": {"type": "object", "additionalProperties": _ref("TFTensorInfo")},
            "method_name": STRING,
        },
        "inputs",
        "outputs",
        "method_name",
    )
    return {
        "Error": _object({"error": STRING}, "error", additionalProperties=True),
        "Image": {
            "description": "784 grey levels 0..255, flat or as 28 rows of 28.",
            "oneOf": [
                _array(pixel, N_PIXELS, N_PIXELS),
                _array(_array(pixel, cols, cols), rows, rows),
            ],
        },
        # Seed and health.
        "SeedRequest": {
            "oneOf": [
                _object(
                    {"image_vector": _ref("Image")},
                    "image_vector",
                    **{"not": {"required": ["image_vectors"]}},
                ),
                _object(
                    {"image_vectors": images},
                    "image_vectors",
                    **{"not": {"required": ["image_vector"]}},
                ),
            ]
        },
        "ModelAnswer": _object(
            {
                "predicted_number": digit,
                "confidence": _range("number", 0, 1),
                "probabilities": probabilities,
            },
            "predicted_number",
            "confidence",
            "probabilities",
        ),
        "SeedAnswer": _object({name: _ref("ModelAnswer") for name in seed_names}, *seed_names),
        "ImageAnswer": _object(
            {
                **{name: _ref("ModelAnswer") for name in seed_names},
                "image_vector": _array(
                    _array(_range("integer", 0, 255), IMAGE_SHAPE[1], IMAGE_SHAPE[1]),
                    IMAGE_SHAPE[0],
                    IMAGE_SHAPE[0],
                ),
                "image": _object(
                    {
                        "format": STRING,
                        "width": {"type": "integer", "minimum": 1},
                        "height": {"type": "integer", "minimum": 1},
                        "inverted": BOOLEAN,
                    },
                    "format",
                    "width",
                    "height",
                    "inverted",
                ),
            },
            *seed_names,
            "image_vector",
            "image",
        ),
        "Live": _object({"status": {"const": "alive"}}, "status"),
        "Ready": _object(
            {
                "status": {"const": "ready"},
                "models": _array(_object({"name": STRING, "version": STRING}, "name", "version")),
                "refused": _array(
                    _object(
                        {"name": STRING, "version": STRING, "reason": STRING},
                        "name",
                        "version",
                        "reason",
                    )
                ),
            },
            "status",
            "models",
        ),
        # KServe V2.
        "V2Parameters": {"type": "object", "additionalProperties": SCALAR},
        "V2ServerMetadata": _object(
            {"name": STRING, "version": STRING, "extensions": _array({"enum": EXTENSIONS})},
            "name",
            "version",
            "extensions",
        ),
        "V2MetadataTensor": _object(
            {"name": STRING, "datatype": STRING, "shape": _array({"type": "integer"})},
            "name",
            "datatype",
            "shape",
        ),
        "V2ModelMetadata": _object(
            {
                "name": STRING,
                "versions": _array(STRING),
                "platform": STRING,
                "inputs": _array(_ref("V2MetadataTensor")),
                "outputs": _array(_ref("V2MetadataTensor")),
                "parameters": _ref("V2Parameters"),
            },
            "name",
            "platform",
            "inputs",
            "outputs",
        ),
        "V2RequestInput": _object(
            {
                "name": {"enum": input_names},
                "datatype": {"enum": list(V2_DTYPES)},
                "shape": {
                    "oneOf": [
                        {
                            "type": "array",
                            "prefixItems": [batch, {"const": N_PIXELS}],
                            "items": False,
                            "minItems": 2,
                        },
                        {
                            "type": "array",
                            "prefixItems": [batch, {"const": rows}, {"const": cols}],
                            "items": False,
                            "minItems": 3,
                        },
                    ]
                },
                "parameters": _parameters(binary_data_size={"type": "integer", "minimum": 0}),
                "data": {
                    "description": "Row-major values, flat or nested like the shape.",
                    **_array({"anyOf": [pixel, _array({"anyOf": [pixel, _array(pixel)]})]}),
                },
            },
            "name",
            "datatype",
            "shape",
            description="Exactly one of `data` or `parameters.binary_data_size`.",
        ),
        "V2RequestOutput": {
            "description": "`classification` (top k) applies to the probabilities output only.",
            "oneOf": [
                _object(
                    {
                        "name": {"enum": output_names},
                        "parameters": _parameters(
                            binary_data=BOOLEAN, classification=_range("integer", 0, N_CLASSES)
                        ),
                    },
                    "name",
                ),
                _object(
                    {
                        "name": {"const": LABEL_OUTPUT},
                        "parameters": _parameters(binary_data=BOOLEAN, classification={"const": 0}),
                    },
                    "name",
                ),
            ],
        },
        "V2InferenceRequest": _object(
            {
                "id": STRING,
                "parameters": _parameters(binary_data_output=BOOLEAN),
                "inputs": _array(_ref("V2RequestInput"), 1, 1),
                "outputs": _array(_ref("V2RequestOutput"), 1),
            },
            "inputs",
        ),
        "V2ResponseOutput": _object(
            {
                "name": STRING,
                "datatype": {"enum": ["FP32", "INT64", "BYTES"]},
                "shape": _array({"type": "integer", "minimum": 0}),
                "parameters": _object({"binary_data_size": {"type": "integer", "minimum": 0}}),
                "data": _array({"type": ["number", "string"]}),
            },
            "name",
            "datatype",
            "shape",
        ),
        "V2InferenceResponse": _object(
            {
                "model_name": STRING,
                "model_version": STRING,
                "id": STRING,
                "outputs": _array(_ref("V2ResponseOutput")),
            },
            "model_name",
            "outputs",
        ),
        # TF Serving.
        "TFModelStatus": _object(
            {
                "model_version_status": _array(
                    _object(
                        {
                            "version": STRING,
                            "state": {"enum": ["AVAILABLE", "END"]},
                            "status": _object({"error_code": STRING, "error_message": STRING}),
                        },
                        "version",
                        "state",
                        "status",
                    )
                )
            },
            "model_version_status",
        ),
        "TFTensorInfo": tensor_info,
        "TFModelMetadata": _object(
            {
                "model_spec": _object(
                    {"name": STRING, "signature_name": STRING, "version": STRING},
                    "name",
                    "version",
                ),
                "metadata": _object(
                    {
                        "signature_def": _object(
                            {
                                "signature_def": {
                                    "type": "object",
                                    "additionalProperties": signature,
                                }
                            }
                        )
                    }
                ),
            },
            "model_spec",
            "metadata",
        ),
        "TFPredictRequest": {
            "oneOf": [
                _object(
                    {
                        "signature_name": _ref("TFSignatureName"),
                        "instances": {**images, "items": {"anyOf": [_ref("Image"), named_image]}},
                    },
                    "instances",
                    **{"not": {"required": ["inputs"]}},
                ),
                _object(
                    {
                        "signature_name": _ref("TFSignatureName"),
                        "inputs": {
                            "anyOf": [
                                images,
                                {
                                    **named_image,
                                    "description": "The batch under the model's input name.",
                                    "additionalProperties": images,
                                },
                            ]
                        },
                    },
                    "inputs",
                    **{"not": {"required": ["instances"]}},
                ),
            ]
        },
        "TFSignatureName": {"enum": [DEFAULT_SIGNATURE, LABEL_SIGNATURE]},
        "TFPredictResponse": {
            "oneOf": [
                _object(
                    {
                        "predictions": _array(
                            {
                                "anyOf": [
                                    probabilities,
                                    _object(
                                        {LABEL_OUTPUT: digit},
                                        LABEL_OUTPUT,
                                        additionalProperties=probabilities,
                                    ),
                                ]
                            }
                        )
                    },
                    "predictions",
                ),
                _object(
                    {
                        "outputs": {
                            "anyOf": [
                                _array(probabilities),
                                _object(
                                    {LABEL_OUTPUT: _array(digit)},
                                    LABEL_OUTPUT,
                                    additionalProperties=_array(probabilities),
                                ),
                            ]
                        }
                    },
                    "outputs",
                ),
            ]
        },
    }


def example_image() -> list[int]:
    """A "1": a vertical stroke, two pixels wide with soft edges, 784 grey levels row by row."""
    rows, cols = IMAGE_SHAPE
    image = [[0] * cols for _ in range(rows)]
    for r in range(5, 23):
        image[r][12:16] = [128, 255, 255, 128]
    return [v for row in image for v in row]


def _examples(registry: ModelRegistry) -> dict[str, Any]:
    image = example_image()
    input_name = registry.served[0].metadata["input"]["name"]
    output_name = registry.served[0].metadata["output"]["name"]
    return {
        "SeedRequest": {"summary": "One image", "value": {"image_vector": image}},
        "V2InferenceRequest": {
            "summary": "One uint8 image; the label and the top 3 classes",
            "value": {
                "id": "example-1",
                "inputs": [
                    {"name": input_name, "shape": [1, N_PIXELS], "datatype": "UINT8", "data": image}
                ],
                "outputs": [
                    {"name": LABEL_OUTPUT},
                    {"name": output_name, "parameters": {"classification": 3}},
                ],
            },
        },
        "TFPredictRequest": {
            "summary": "One image, row format, with the label",
            "value": {"signature_name": LABEL_SIGNATURE, "instances": [image]},
        },
    }


def build_document(registry: ModelRegistry, max_batch: int) -> dict[str, Any]:
    """The whole document for this server's models and limits."""
    names = [m.name for m in registry.served]
    versions = sorted({m.version for m in registry.served})
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
        "tags": [
            {"name": "seed", "description": "The original example's endpoint, kept as it was."},
            {"name": "health", "description": "Liveness and readiness."},
            {"name": "KServe V2", "description": "Open Inference Protocol, REST."},
            {"name": "TF Serving", "description": "TensorFlow Serving's REST API."},
            {"name": "docs", "description": "This document and its viewer."},
        ],
        "paths": PATHS,
        "components": {
            "parameters": {
                "ModelName": {
                    "name": "model_name",
                    "in": "path",
                    "required": True,
                    "schema": {"type": "string", "enum": names},
                },
                "ModelVersion": {
                    "name": "model_version",
                    "in": "path",
                    "required": True,
                    "description": "A loaded version; any other gives 404.",
                    "schema": {"type": "string", "enum": versions},
                },
            },
            "responses": {
                f"E{code}": {"description": text, **_json_body(_ref("Error"))}
                for code, text in _ERRORS.items()
            },
            "schemas": _schemas(registry, max_batch),
            "examples": _examples(registry),
        },
    }


@bp.get("/openapi.json")
def document():
    cached = current_app.extensions.get("mnist_openapi")
    if cached is None:
        cached = build_document(
            current_app.extensions["mnist_registry"], current_app.config["MAX_BATCH"]
        )
        current_app.extensions["mnist_openapi"] = cached
    return json_response(cached)
