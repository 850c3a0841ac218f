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
from mnist_serve.http.v2 import EXTENSIONS, HEADER_LENGTH, server_version
from mnist_serve.runtime import ModelRegistry

bp = Blueprint("openapi", __name__)

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


def _pixel(maximum: int = 255) -> dict[str, Any]:
    return {"type": "number", "minimum": 0, "maximum": maximum}


def _schemas(registry: ModelRegistry, max_batch: int) -> dict[str, Any]:
    seed_names = [m.name for m in registry.models]
    input_names = sorted({m.metadata["input"]["name"] for m in registry.served})
    output_names = sorted({m.metadata["output"]["name"] for m in registry.served})
    batch = {"type": "integer", "minimum": 1, "maximum": max_batch}
    probabilities = {
        "type": "array",
        "items": {"type": "number", "minimum": 0, "maximum": 1},
        "minItems": N_CLASSES,
        "maxItems": N_CLASSES,
    }
    digit = {"type": "integer", "minimum": 0, "maximum": N_CLASSES - 1}
    rows, cols = IMAGE_SHAPE
    images = {"type": "array", "items": _ref("Image"), "minItems": 1, "maxItems": max_batch}
    named_image = {
        "type": "object",
        "description": "The image under the model's input name.",
        "propertyNames": {"enum": input_names},
        "minProperties": 1,
        "maxProperties": 1,
        "additionalProperties": _ref("Image"),
    }
    scalar = {"type": ["string", "number", "boolean"]}
    return {
        "Error": {
            "type": "object",
            "required": ["error"],
            "properties": {"error": {"type": "string"}},
            "additionalProperties": True,
        },
        "Image": {
            "description": "784 grey levels 0..255, flat or as 28 rows of 28.",
            "oneOf": [
                {"type": "array", "items": _pixel(), "minItems": N_PIXELS, "maxItems": N_PIXELS},
                {
                    "type": "array",
                    "minItems": rows,
                    "maxItems": rows,
                    "items": {
                        "type": "array",
                        "items": _pixel(),
                        "minItems": cols,
                        "maxItems": cols,
                    },
                },
            ],
        },
        # Seed and health.
        "SeedRequest": {
            "oneOf": [
                {
                    "type": "object",
                    "required": ["image_vector"],
                    "properties": {"image_vector": _ref("Image")},
                    "not": {"required": ["image_vectors"]},
                },
                {
                    "type": "object",
                    "required": ["image_vectors"],
                    "properties": {"image_vectors": images},
                    "not": {"required": ["image_vector"]},
                },
            ]
        },
        "ModelAnswer": {
            "type": "object",
            "required": ["predicted_number", "confidence", "probabilities"],
            "properties": {
                "predicted_number": digit,
                "confidence": {"type": "number", "minimum": 0, "maximum": 1},
                "probabilities": probabilities,
            },
        },
        "SeedAnswer": {
            "type": "object",
            "required": seed_names,
            "properties": {name: _ref("ModelAnswer") for name in seed_names},
        },
        "Live": {
            "type": "object",
            "required": ["status"],
            "properties": {"status": {"const": "alive"}},
        },
        "Ready": {
            "type": "object",
            "required": ["status", "models"],
            "properties": {
                "status": {"const": "ready"},
                "models": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["name", "version"],
                        "properties": {"name": {"type": "string"}, "version": {"type": "string"}},
                    },
                },
            },
        },
        # KServe V2.
        "V2Parameters": {"type": "object", "additionalProperties": scalar},
        "V2ServerMetadata": {
            "type": "object",
            "required": ["name", "version", "extensions"],
            "properties": {
                "name": {"type": "string"},
                "version": {"type": "string"},
                "extensions": {"type": "array", "items": {"enum": EXTENSIONS}},
            },
        },
        "V2MetadataTensor": {
            "type": "object",
            "required": ["name", "datatype", "shape"],
            "properties": {
                "name": {"type": "string"},
                "datatype": {"type": "string"},
                "shape": {"type": "array", "items": {"type": "integer"}},
            },
        },
        "V2ModelMetadata": {
            "type": "object",
            "required": ["name", "platform", "inputs", "outputs"],
            "properties": {
                "name": {"type": "string"},
                "versions": {"type": "array", "items": {"type": "string"}},
                "platform": {"type": "string"},
                "inputs": {"type": "array", "items": _ref("V2MetadataTensor")},
                "outputs": {"type": "array", "items": _ref("V2MetadataTensor")},
                "parameters": _ref("V2Parameters"),
            },
        },
        "V2RequestInput": {
            "type": "object",
            "description": "Exactly one of `data` or `parameters.binary_data_size`.",
            "required": ["name", "datatype", "shape"],
            "properties": {
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
                "parameters": {
                    "type": "object",
                    "properties": {"binary_data_size": {"type": "integer", "minimum": 0}},
                    "additionalProperties": scalar,
                },
                "data": {
                    "description": "Row-major values, flat or nested like the shape.",
                    "type": "array",
                    "items": {
                        "anyOf": [
                            _pixel(),
                            {
                                "type": "array",
                                "items": {
                                    "anyOf": [_pixel(), {"type": "array", "items": _pixel()}]
                                },
                            },
                        ]
                    },
                },
            },
        },
        "V2RequestOutput": {
            "description": "`classification` (top k) applies to the probabilities output only.",
            "oneOf": [
                {
                    "type": "object",
                    "required": ["name"],
                    "properties": {
                        "name": {"enum": output_names},
                        "parameters": {
                            "type": "object",
                            "properties": {
                                "binary_data": {"type": "boolean"},
                                "classification": {
                                    "type": "integer",
                                    "minimum": 0,
                                    "maximum": N_CLASSES,
                                },
                            },
                            "additionalProperties": scalar,
                        },
                    },
                },
                {
                    "type": "object",
                    "required": ["name"],
                    "properties": {
                        "name": {"const": LABEL_OUTPUT},
                        "parameters": {
                            "type": "object",
                            "properties": {
                                "binary_data": {"type": "boolean"},
                                "classification": {"const": 0},
                            },
                            "additionalProperties": scalar,
                        },
                    },
                },
            ],
        },
        "V2InferenceRequest": {
            "type": "object",
            "required": ["inputs"],
            "properties": {
                "id": {"type": "string"},
                "parameters": {
                    "type": "object",
                    "properties": {"binary_data_output": {"type": "boolean"}},
                    "additionalProperties": scalar,
                },
                "inputs": {
                    "type": "array",
                    "items": _ref("V2RequestInput"),
                    "minItems": 1,
                    "maxItems": 1,
                },
                "outputs": {"type": "array", "items": _ref("V2RequestOutput"), "minItems": 1},
            },
        },
        "V2ResponseOutput": {
            "type": "object",
            "required": ["name", "datatype", "shape"],
            "properties": {
                "name": {"type": "string"},
                "datatype": {"enum": ["FP32", "INT64", "BYTES"]},
                "shape": {"type": "array", "items": {"type": "integer", "minimum": 0}},
                "parameters": {
                    "type": "object",
                    "properties": {"binary_data_size": {"type": "integer", "minimum": 0}},
                },
                "data": {"type": "array", "items": {"type": ["number", "string"]}},
            },
        },
        "V2InferenceResponse": {
            "type": "object",
            "required": ["model_name", "outputs"],
            "properties": {
                "model_name": {"type": "string"},
                "model_version": {"type": "string"},
                "id": {"type": "string"},
                "outputs": {"type": "array", "items": _ref("V2ResponseOutput")},
            },
        },
        # TF Serving.
        "TFModelStatus": {
            "type": "object",
            "required": ["model_version_status"],
            "properties": {
                "model_version_status": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["version", "state", "status"],
                        "properties": {
                            "version": {"type": "string"},
                            "state": {"enum": ["AVAILABLE"]},
                            "status": {
                                "type": "object",
                                "properties": {
                                    "error_code": {"type": "string"},
                                    "error_message": {"type": "string"},
                                },
                            },
                        },
                    },
                }
            },
        },
        "TFTensorInfo": {
            "type": "object",
            "required": ["dtype", "tensor_shape", "name"],
            "properties": {
                "dtype": {"type": "string"},
                "name": {"type": "string"},
                "tensor_shape": {
                    "type": "object",
                    "properties": {
                        "dim": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "properties": {
                                    "size": {"type": "string"},
                                    "name": {"type": "string"},
                                },
                            },
                        },
                        "unknown_rank": {"type": "boolean"},
                    },
                },
            },
        },
        "TFModelMetadata": {
            "type": "object",
            "required": ["model_spec", "metadata"],
            "properties": {
                "model_spec": {
                    "type": "object",
                    "required": ["name", "version"],
                    "properties": {
                        "name": {"type": "string"},
                        "signature_name": {"type": "string"},
                        "version": {"type": "string"},
                    },
                },
                "metadata": {
                    "type": "object",
                    "properties": {
                        "signature_def": {
                            "type": "object",
                            "properties": {
                                "signature_def": {
                                    "type": "object",
                                    "additionalProperties": {
                                        "type": "object",
                                        "required": ["inputs", "outputs", "method_name"],
                                        "properties": {
                                            "inputs": {
                                                "type": "object",
                                                "additionalProperties": _ref("TFTensorInfo"),
                                            },
                                            "outputs": {
                                                "type": "object",
                                                "additionalProperties": _ref("TFTensorInfo"),
                                            },
                                            "method_name": {"type": "string"},
                                        },
                                    },
                                }
                            },
                        }
                    },
                },
            },
        },
        "TFPredictRequest": {
            "oneOf": [
                {
                    "type": "object",
                    "required": ["instances"],
                    "properties": {
                        "signature_name": _ref("TFSignatureName"),
                        "instances": {
                            **images,
                            "items": {"anyOf": [_ref("Image"), named_image]},
                        },
                    },
                    "not": {"required": ["inputs"]},
                },
                {
                    "type": "object",
                    "required": ["inputs"],
                    "properties": {
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
                    "not": {"required": ["instances"]},
                },
            ]
        },
        "TFSignatureName": {"enum": [DEFAULT_SIGNATURE, LABEL_SIGNATURE]},
        "TFPredictResponse": {
            "oneOf": [
                {
                    "type": "object",
                    "required": ["predictions"],
                    "properties": {
                        "predictions": {
                            "type": "array",
                            "items": {
                                "anyOf": [
                                    probabilities,
                                    {
                                        "type": "object",
                                        "required": [LABEL_OUTPUT],
                                        "properties": {LABEL_OUTPUT: digit},
                                        "additionalProperties": probabilities,
                                    },
                                ]
                            },
                        }
                    },
                },
                {
                    "type": "object",
                    "required": ["outputs"],
                    "properties": {
                        "outputs": {
                            "anyOf": [
                                {"type": "array", "items": probabilities},
                                {
                                    "type": "object",
                                    "required": [LABEL_OUTPUT],
                                    "properties": {LABEL_OUTPUT: {"type": "array", "items": digit}},
                                    "additionalProperties": {
                                        "type": "array",
                                        "items": probabilities,
                                    },
                                },
                            ]
                        }
                    },
                },
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
