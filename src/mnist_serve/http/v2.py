"""KServe V2 / Open Inference Protocol over REST, as Triton and KServe clients speak it.

Beyond the required API: Triton's binary tensor data extension (`Inference-Header-Content-Length`)
and classification extension (`"parameters": {"classification": k}` on an output), and
gzip/deflate request bodies (tritonclient's `request_compression_algorithm`).
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import numpy as np
import orjson
from flask import Blueprint, Response, current_app, request

from mnist_serve.data import N_CLASSES
from mnist_serve.errors import InvalidInput
from mnist_serve.http.content_encoding import read_decoded_body
from mnist_serve.http.parsing import json_type_name, parse_object
from mnist_serve.http.responses import json_response
from mnist_serve.http.tensors import (
    LABEL_OUTPUT,
    V2_DTYPES,
    as_int,
    check_shape,
    labels_of,
    pixels_from_bytes,
    pixels_from_json_data,
    top_k,
)
from mnist_serve.runtime import ModelRegistry

bp = Blueprint("v2", __name__, url_prefix="/v2")

SERVER_NAME = "mnist-serve"
EXTENSIONS = ["binary_tensor_data", "classification"]
HEADER_LENGTH = "Inference-Header-Content-Length"
_DIGITS = re.compile(r"[0-9]{1,15}")


def server_version() -> str:
    try:
        return version("mnist-serve")
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "0+unknown"


def _registry() -> ModelRegistry:
    # Always there: the app is built only after every model loaded, verified and warmed up.
    return current_app.extensions["mnist_registry"]


def _empty(status: int = 200) -> Response:
    """The spec's health answers: the status code is the answer, the body is empty."""
    response = Response(status=status)
    del response.headers["Content-Type"]
    return response


@bp.get("")
def server_metadata():
    return json_response(
        {"name": SERVER_NAME, "version": server_version(), "extensions": EXTENSIONS}
    )


@bp.get("/health/live")
def server_live():
    return _empty()


@bp.get("/health/ready")
def server_ready():
    """Ready whenever it answers: no worker accepts a connection before its models are warm."""
    return _empty()


@bp.get("/models/<model_name>")
@bp.get("/models/<model_name>/versions/<version>")
def model_metadata(model_name: str, version: str | None = None):
    return json_response(metadata_of(_registry().get(model_name, version)))


@bp.get("/models/<model_name>/ready")
@bp.get("/models/<model_name>/versions/<version>/ready")
def model_ready(model_name: str, version: str | None = None):
    _registry().get(model_name, version)  # 404 for a model or version that is not loaded
    return _empty()


@bp.post("/models/<model_name>/infer")
@bp.post("/models/<model_name>/versions/<version>/infer")
def infer(model_name: str, version: str | None = None):
    model = _registry().get(model_name, version)
    parsed = parse_infer_request(
        read_decoded_body(),
        request.headers.get(HEADER_LENGTH),
        input_name=model.metadata["input"]["name"],
        output_name=model.metadata["output"]["name"],
        max_batch=current_app.config["SETTINGS"].max_batch,
    )
    return infer_response(model, parsed, model.predict_proba(parsed.pixels))


# --- metadata -------------------------------------------------------------------------------


def metadata_of(model: Any) -> dict[str, Any]:
    """V2 model metadata from the model.json, plus the `label` output every model offers."""
    meta = model.metadata
    inp, out = meta["input"], meta["output"]
    parameters: dict[str, Any] = {}
    if "artifact" in meta:
        parameters["sha256"] = meta["artifact"]["sha256"]
        parameters["format"] = meta["artifact"].get("format", "onnx")
    if "members" in meta:
        parameters["members"] = ",".join(m["name"] for m in meta["members"])
    # V2 parameter values are scalars: metrics flatten to one key each.
    parameters.update({k: v for k, v in meta.get("metrics", {}).items() if _is_scalar(v)})
    return {
        "name": model.name,
        "versions": [model.version],
        "platform": meta.get("platform", "onnxruntime_onnx"),
        "inputs": [{"name": inp["name"], "datatype": inp["datatype"], "shape": inp["shape"]}],
        "outputs": [
            {"name": out["name"], "datatype": out["datatype"], "shape": out["shape"]},
            {"name": LABEL_OUTPUT, "datatype": "INT64", "shape": [-1]},
        ],
        "parameters": parameters,
    }


def _is_scalar(value: Any) -> bool:
    return isinstance(value, (str, int, float, bool))


# --- inference request ----------------------------------------------------------------------


@dataclass(frozen=True)
class RequestedOutput:
    name: str
    binary: bool
    classification: int = 0


@dataclass(frozen=True)
class InferRequest:
    id: str | None
    pixels: np.ndarray
    outputs: list[RequestedOutput]


def _object(value: Any, field: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InvalidInput(f"{field} must be an object, got {json_type_name(value)}", field=field)
    return value


def _optional_bool(params: dict[str, Any], key: str, field: str, default: bool) -> bool:
    value = params.get(key, default)
    if type(value) is not bool:
        raise InvalidInput(
            f"{field}.{key} must be true or false, got {json_type_name(value)}",
            field=f"{field}.{key}",
        )
    return value


def _refuse_shared_memory(params: dict[str, Any], field: str) -> None:
    if any(key.startswith("shared_memory") for key in params):
        raise InvalidInput(
            f"{field}: the shared memory extension is not supported; send the data in the request",
            field=field,
        )


def _split_body(body: bytes, header_length: str | None) -> tuple[bytes, bytes]:
    """JSON header and binary tail, as the binary tensor data extension frames them."""
    if header_length is None:
        return body, b""
    if not _DIGITS.fullmatch(header_length.strip()):
        raise InvalidInput(
            f"{HEADER_LENGTH} must be a byte count, got {header_length[:40]!r}",
            header=HEADER_LENGTH,
        )
    size = int(header_length)
    if size > len(body):
        raise InvalidInput(
            f"{HEADER_LENGTH} is {size} but the body has only {len(body)} bytes",
            header=HEADER_LENGTH,
        )
    return body[:size], body[size:]


def _parse_input(
    tensor: Any, field: str, input_name: str, binary: bytes, max_batch: int
) -> tuple[np.ndarray, int]:
    """One request input -> (pixels, binary bytes it consumed)."""
    tensor = _object(tensor, field)
    name = tensor.get("name")
    if name != input_name:
        shown = name if isinstance(name, str) else json_type_name(name)
        raise InvalidInput(
            f"{field}.name is {shown!r}; this model's input is {input_name!r}",
            field=f"{field}.name",
            expected=input_name,
        )
    datatype = tensor.get("datatype")
    if not isinstance(datatype, str) or datatype not in V2_DTYPES:
        shown = datatype if isinstance(datatype, str) else json_type_name(datatype)
        raise InvalidInput(
            f"{field}.datatype {shown!r} is not supported; use one of {', '.join(V2_DTYPES)}",
            field=f"{field}.datatype",
            supported=list(V2_DTYPES),
        )
    shape = check_shape(tensor.get("shape"), f"{field}.shape", max_batch)
    params = _object(tensor.get("parameters", {}), f"{field}.parameters")
    _refuse_shared_memory(params, f"{field}.parameters")
    size = params.get("binary_data_size")
    if size is None:
        if "data" not in tensor:
            raise InvalidInput(
                f"{field} has neither data nor parameters.binary_data_size", field=field
            )
        return pixels_from_json_data(tensor["data"], shape, datatype, f"{field}.data"), 0
    size = as_int(size)
    if size is None or size < 0:
        raise InvalidInput(
            f"{field}.parameters.binary_data_size must be a byte count",
            field=f"{field}.parameters.binary_data_size",
        )
    if "data" in tensor:
        raise InvalidInput(
            f"{field} has both data and parameters.binary_data_size; send one", field=field
        )
    if size > len(binary):
        raise InvalidInput(
            f"{field}.parameters.binary_data_size is {size} but only {len(binary)} bytes of "
            f"binary data follow the JSON (is the {HEADER_LENGTH} header set?)",
            field=f"{field}.parameters.binary_data_size",
        )
    return pixels_from_bytes(binary[:size], shape, datatype, f"{field} binary data"), size


def _parse_outputs(outputs: Any, output_name: str, default_binary: bool) -> list[RequestedOutput]:
    known = (output_name, LABEL_OUTPUT)
    if outputs is None:
        return [RequestedOutput(name, default_binary) for name in known]
    if not isinstance(outputs, list) or not outputs:
        raise InvalidInput("outputs must be a non-empty array of {name: ...} objects")
    requested: list[RequestedOutput] = []
    for i, entry in enumerate(outputs):
        field = f"outputs[{i}]"
        entry = _object(entry, field)
        name = entry.get("name")
        if name not in known:
            shown = name if isinstance(name, str) else json_type_name(name)
            raise InvalidInput(
                f"{field}.name {shown!r} is not an output of this model; "
                f"choose from {', '.join(known)}",
                field=f"{field}.name",
                outputs=list(known),
            )
        if any(r.name == name for r in requested):
            raise InvalidInput(f"{field}: output {name!r} is requested twice", field=field)
        params = _object(entry.get("parameters", {}), f"{field}.parameters")
        _refuse_shared_memory(params, f"{field}.parameters")
        binary = _optional_bool(params, "binary_data", f"{field}.parameters", default_binary)
        raw_k = params.get("classification", 0)  # 0: none (tritonclient's default)
        k = as_int(raw_k)
        if k is None or not 0 <= k <= N_CLASSES:
            raise InvalidInput(
                f"{field}.parameters.classification must be a class count 1..{N_CLASSES}, "
                f"got {raw_k if k is not None else json_type_name(raw_k)}",
                field=f"{field}.parameters.classification",
            )
        if k and name != output_name:
            raise InvalidInput(
                f"{field}: classification applies to {output_name!r}, not {name!r}",
                field=f"{field}.parameters.classification",
            )
        requested.append(RequestedOutput(name, binary, k))
    return requested


def parse_infer_request(
    body: bytes, header_length: str | None, input_name: str, output_name: str, max_batch: int
) -> InferRequest:
    """A V2 inference request (JSON, or JSON + binary tail) -> validated pixels and outputs."""
    header, binary = _split_body(body, header_length)
    doc = parse_object(
        header,
        "inference request",
        '{"inputs": [{"name": ..., "shape": [1, 784], "datatype": "UINT8", "data": [...]}]}',
    )
    request_id = doc.get("id")
    if request_id is not None and not isinstance(request_id, str):
        raise InvalidInput(f"id must be a string, got {json_type_name(request_id)}", field="id")
    params = _object(doc.get("parameters", {}), "parameters")
    default_binary = _optional_bool(params, "binary_data_output", "parameters", False)
    inputs = doc.get("inputs")
    if not isinstance(inputs, list) or len(inputs) != 1:
        got = f"{len(inputs)} inputs" if isinstance(inputs, list) else json_type_name(inputs)
        raise InvalidInput(
            f"inputs must be an array holding one tensor ({input_name!r}), got {got}",
            field="inputs",
        )
    pixels, used = _parse_input(inputs[0], "inputs[0]", input_name, binary, max_batch)
    if used != len(binary):
        raise InvalidInput(
            f"{len(binary) - used} bytes of binary data follow the JSON that no input claims "
            f"(check {HEADER_LENGTH} and binary_data_size)"
        )
    outputs = _parse_outputs(doc.get("outputs"), output_name, default_binary)
    return InferRequest(request_id, pixels, outputs)


# --- inference response ---------------------------------------------------------------------


def _bytes_tensor(strings: list[str]) -> bytes:
    """BYTES elements in binary form: each one a little-endian uint32 length, then its bytes."""
    encoded = [s.encode() for s in strings]
    return b"".join(struct.pack("<I", len(b)) + b for b in encoded)


def _output_tensor(
    out: RequestedOutput, proba: np.ndarray, labels: np.ndarray, proba_spec: dict[str, Any]
) -> tuple[dict[str, Any], Any, str]:
    """(JSON entry without data, the values, datatype) for one requested output."""
    n = len(proba)
    if out.name == LABEL_OUTPUT:
        return {"name": out.name, "datatype": "INT64", "shape": [n]}, labels, "INT64"
    if out.classification:
        indices, values = top_k(proba, out.classification)
        strings = [
            f"{v:f}:{i}"
            for row_v, row_i in zip(values, indices, strict=True)
            for v, i in zip(row_v, row_i, strict=True)
        ]
        entry = {"name": out.name, "datatype": "BYTES", "shape": [n, out.classification]}
        return entry, strings, "BYTES"
    datatype = proba_spec["datatype"]
    return {"name": out.name, "datatype": datatype, "shape": list(proba.shape)}, proba, datatype


def infer_response(model: Any, parsed: InferRequest, proba: np.ndarray) -> Response:
    """The V2 answer: all JSON, or a JSON header plus binary tensors when any output asks so."""
    labels = labels_of(proba)
    outputs, blobs = [], []
    for out in parsed.outputs:
        entry, values, datatype = _output_tensor(out, proba, labels, model.metadata["output"])
        if out.binary:
            if datatype == "BYTES":
                blob = _bytes_tensor(values)
            else:
                blob = np.ascontiguousarray(values, dtype=V2_DTYPES[datatype]).tobytes()
            entry["parameters"] = {"binary_data_size": len(blob)}
            blobs.append(blob)
        else:
            entry["data"] = values if datatype == "BYTES" else values.reshape(-1)
        outputs.append(entry)
    body: dict[str, Any] = {"model_name": model.name, "model_version": model.version}
    if parsed.id is not None:
        body["id"] = parsed.id
    body["outputs"] = outputs
    header = orjson.dumps(body, option=orjson.OPT_SERIALIZE_NUMPY)
    if not blobs:
        return Response(header, mimetype="application/json")
    response = Response(header + b"".join(blobs), mimetype="application/octet-stream")
    response.headers[HEADER_LENGTH] = str(len(header))
    return response
