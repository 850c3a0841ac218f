"""TensorFlow Serving's REST API: model status, metadata, and `:predict` in row and columnar form.

Two signatures: `serving_default` answers the probabilities alone, as a Keras classifier
exported to TF Serving does; `with_label` adds the predicted digit as a second output.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from flask import Blueprint, current_app
from werkzeug.routing import BaseConverter

from mnist_serve.errors import InvalidInput, ModelNotFound
from mnist_serve.http.content_encoding import read_decoded_body
from mnist_serve.http.parsing import images_from_list, json_type_name, parse_object
from mnist_serve.http.responses import json_response
from mnist_serve.http.tensors import LABEL_OUTPUT, labels_of
from mnist_serve.runtime import ModelRegistry

bp = Blueprint("tfserving", __name__, url_prefix="/v1/models")

DEFAULT_SIGNATURE = "serving_default"
LABEL_SIGNATURE = "with_label"
PREDICT_METHOD = "tensorflow/serving/predict"
_TF_DTYPES = {"FP32": "DT_FLOAT", "FP64": "DT_DOUBLE", "INT64": "DT_INT64", "UINT8": "DT_UINT8"}


class PathSegment(BaseConverter):
    """A path segment without ':', so `/v1/models/mlp:predict` never reads as a model name."""

    regex = r"[^/:]+"


def _register_converter(state) -> None:
    state.app.url_map.converters.setdefault("segment", PathSegment)


# Before the routes below: their rules need the converter when they are added to the app.
bp.record_once(_register_converter)


def _model(name: str, version: str | None) -> Any:
    """TF Serving versions are integers: `/versions/01` is version 1."""
    registry: ModelRegistry = current_app.extensions["mnist_registry"]
    if version is not None:
        if not version.isascii() or not version.isdigit():
            raise ModelNotFound(
                f"model {name!r} has no version {version!r}: versions are integers",
                available=[m.version for m in registry.served if m.name == name],
            )
        version = str(int(version))
    return registry.get(name, version)


@bp.get("/<segment:model_name>")
@bp.get("/<segment:model_name>/versions/<segment:version>")
def model_status(model_name: str, version: str | None = None):
    """The served version is AVAILABLE; a version refused at load (bad sha256, unloadable) is
    END with the reason, as TF Serving reports a version that failed to load."""
    registry: ModelRegistry = current_app.extensions["mnist_registry"]
    if version is not None and version.isascii() and version.isdigit():
        refusal = registry.refused.get((model_name, str(int(version))))
        if refusal is not None:
            return json_response({"model_version_status": [_refused_status(refusal)]})
    model = _model(model_name, version)
    statuses = [
        {
            "version": model.version,
            "state": "AVAILABLE",
            "status": {"error_code": "OK", "error_message": ""},
        }
    ]
    if version is None:
        statuses += [_refused_status(r) for r in registry.refused.values() if r.name == model_name]
    return json_response({"model_version_status": statuses})


def _refused_status(refusal: Any) -> dict[str, Any]:
    return {
        "version": refusal.version,
        "state": "END",
        "status": {"error_code": "FAILED_PRECONDITION", "error_message": refusal.reason},
    }


@bp.get("/<segment:model_name>/metadata")
@bp.get("/<segment:model_name>/versions/<segment:version>/metadata")
def model_metadata(model_name: str, version: str | None = None):
    model = _model(model_name, version)
    return json_response(
        {
            "model_spec": {"name": model.name, "signature_name": "", "version": model.version},
            "metadata": {"signature_def": {"signature_def": signatures_of(model)}},
        }
    )


@bp.post("/<segment:model_name>:predict")
@bp.post("/<segment:model_name>/versions/<segment:version>:predict")
def predict(model_name: str, version: str | None = None):
    model = _model(model_name, version)
    # TF Serving also takes gzip bodies.
    doc = parse_object(read_decoded_body(), example='{"instances": [[784 pixel values]]}')
    outputs = _signature_outputs(model, doc.get("signature_name", DEFAULT_SIGNATURE))
    input_name = model.metadata["input"]["name"]
    max_batch = current_app.config["SETTINGS"].max_batch
    if ("instances" in doc) == ("inputs" in doc):
        raise InvalidInput(
            "send exactly one of instances (row format) or inputs (columnar format)",
            keys=sorted(doc)[:10],
        )
    if "instances" in doc:
        x = _rows(doc["instances"], input_name, max_batch)
    else:
        x = _columns(doc["inputs"], input_name, max_batch)
    proba = model.predict_proba(x)
    values = {model.metadata["output"]["name"]: proba, LABEL_OUTPUT: labels_of(proba)}
    if "instances" in doc:
        if len(outputs) == 1:
            return json_response({"predictions": values[outputs[0]]})
        rows = [{name: values[name][i] for name in outputs} for i in range(len(proba))]
        return json_response({"predictions": rows})
    if len(outputs) == 1:
        return json_response({"outputs": values[outputs[0]]})
    return json_response({"outputs": {name: values[name] for name in outputs}})


# --- metadata -------------------------------------------------------------------------------


def _tensor_info(name: str, datatype: str, shape: list[int]) -> dict[str, Any]:
    """A TensorInfo as TF Serving prints it (int64 sizes are JSON strings in protobuf JSON)."""
    return {
        "dtype": _TF_DTYPES.get(datatype, "DT_INVALID"),
        "tensor_shape": {
            "dim": [{"size": str(d), "name": ""} for d in shape],
            "unknown_rank": False,
        },
        "name": f"{name}:0",
    }


def signatures_of(model: Any) -> dict[str, Any]:
    inp, out = model.metadata["input"], model.metadata["output"]
    inputs = {inp["name"]: _tensor_info(inp["name"], inp["datatype"], inp["shape"])}
    proba = {out["name"]: _tensor_info(out["name"], out["datatype"], out["shape"])}
    label = {LABEL_OUTPUT: _tensor_info(LABEL_OUTPUT, "INT64", [-1])}
    return {
        DEFAULT_SIGNATURE: {"inputs": inputs, "outputs": proba, "method_name": PREDICT_METHOD},
        LABEL_SIGNATURE: {
            "inputs": inputs,
            "outputs": {**proba, **label},
            "method_name": PREDICT_METHOD,
        },
    }


def _signature_outputs(model: Any, signature: Any) -> list[str]:
    proba = model.metadata["output"]["name"]
    if signature == DEFAULT_SIGNATURE:
        return [proba]
    if signature == LABEL_SIGNATURE:
        return [proba, LABEL_OUTPUT]
    shown = signature if isinstance(signature, str) else json_type_name(signature)
    raise InvalidInput(
        f"signature_name {shown!r} not found; this model has {DEFAULT_SIGNATURE!r} and "
        f"{LABEL_SIGNATURE!r}",
        field="signature_name",
    )


# --- request parsing ------------------------------------------------------------------------


def _images(images: Any, field: str, max_batch: int, input_name: str | None) -> np.ndarray:
    """A list of images (each 784 values or 28 rows of 28; with `input_name`, each may also be
    an object {input_name: image}) -> float32 (n, 784) in [0, 1]."""
    if not isinstance(images, list):
        raise InvalidInput(
            f"{field} must be an array of images, got {json_type_name(images)}", field=field
        )
    if images and not isinstance(images[0], (list, dict)):
        # The usual slip: one image's 784 values sent as the batch itself.
        raise InvalidInput(
            f"{field} must be an array of images, got an array of {json_type_name(images[0])}s; "
            "wrap a single image in a list: [[...784 values...]]",
            field=field,
        )

    def unwrap(image: Any, where: str) -> tuple[Any, str]:
        if input_name is not None and isinstance(image, dict):
            _only_input(image, input_name, where)
            return image[input_name], f"{where}.{input_name}"
        return image, where

    return images_from_list(images, field, max_batch, unwrap=unwrap)


def _only_input(named: dict[str, Any], input_name: str, field: str) -> None:
    if set(named) != {input_name}:
        raise InvalidInput(
            f"{field} names inputs {sorted(named)[:5]}; this model has one input, {input_name!r}",
            field=field,
            expected=input_name,
        )


def _rows(instances: Any, input_name: str, max_batch: int) -> np.ndarray:
    """Row format: one entry per image, the image itself or {input_name: image}."""
    return _images(instances, "instances", max_batch, input_name)


def _columns(inputs: Any, input_name: str, max_batch: int) -> np.ndarray:
    """Columnar format: the batch tensor itself, or {input_name: batch tensor}."""
    if isinstance(inputs, dict):
        _only_input(inputs, input_name, "inputs")
        return _images(inputs[input_name], f"inputs.{input_name}", max_batch, None)
    return _images(inputs, "inputs", max_batch, None)
