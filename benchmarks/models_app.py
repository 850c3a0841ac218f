"""The floor plus the two models: the ceiling for any server that runs both models per request.

Like `floor_app`, it reads the body and returns a fixed answer, but before answering it runs
both served models (the same ONNX Runtime sessions, loaded the same way) on the example image,
decoded once at start. No parsing, validation or encoding: the product's distance from this
app is its own request handling, and this app's distance from the floor is what the models cost
under load. Benchmark-only; the load test's `floor+models` target.
"""

from __future__ import annotations

from pathlib import Path

import orjson
from flask import Flask, Response, request

from benchmarks.floor_app import FIXED
from mnist_serve.config import load_settings
from mnist_serve.http.parsing import images_from_document
from mnist_serve.runtime import ModelRegistry

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "mnist_image_example.json"

registry = ModelRegistry.load(load_settings().model_dir, load_settings().precision)
IMAGE, _ = images_from_document(orjson.loads(EXAMPLE.read_bytes()), max_batch=1)

app = Flask(__name__)


@app.post("/verify_vector_image")
@app.post("/classify_image_vector")
def floor_plus_models() -> Response:
    body = request.get_data(cache=False)
    registry.predict_all(IMAGE if _images(body) == 1 else IMAGE.repeat(_images(body), axis=0))
    return Response(FIXED, mimetype="application/json")


def _images(body: bytes) -> int:
    """How many images the request holds, counted without parsing (benchmark payloads only)."""
    if request.mimetype == "application/octet-stream":
        return max(1, len(body) // IMAGE.shape[1])
    return body.count(b"],") + 1 if b'"image_vectors"' in body else 1


@app.get("/health/ready")
def ready() -> Response:
    return Response(b'{"status":"ready"}', mimetype="application/json")
