"""The floor plus the two models: the ceiling for any server that runs both models per request.

Like `floor_app`, it reads the body and returns a fixed answer, but before answering it runs
both served models (the same ONNX Runtime sessions, loaded the same way) on pre-decoded images.
Under `mnist-serve loadtest` these are the load test's own bodies, decoded once at start and
taken in turn, so the models see the same distinct images as the product's; standalone, the
example image. No parsing, validation or encoding: the product's distance from this app is its
own request handling, and this app's distance from the floor is what the models cost under
load. Benchmark-only; the load test's `floor+models` target.
"""

from __future__ import annotations

import os
from itertools import cycle
from pathlib import Path

import orjson
from flask import Flask, Response, request

from mnist_serve.config import process_settings
from mnist_serve.http.parsing import images_from_request
from mnist_serve.http.responses import seed_answers
from mnist_serve.loadtest import read_bodies
from mnist_serve.runtime import ModelRegistry

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "mnist_image_example.json"


def _decoded() -> list:
    """Each request body the load test will send, as the model input it decodes to."""
    if "LOADTEST_BODY_FILE" in os.environ:
        bodies = read_bodies(
            Path(os.environ["LOADTEST_BODY_FILE"]), Path(os.environ["LOADTEST_BODY_INDEX"])
        )
        ctype = "application/json" if bodies[0][:1] == b"{" else "application/octet-stream"
    else:
        bodies, ctype = [EXAMPLE.read_bytes()], "application/json"
    return [images_from_request(ctype, body, max_batch=65536)[0] for body in bodies]


_settings = process_settings()
registry = ModelRegistry.load(_settings.model_dir, _settings.precision)
INPUTS = _decoded()
# A real answer of these models (for the first input), so the response size is the product's.
FIXED = orjson.dumps(
    seed_answers(registry.predict_all(INPUTS[0][:1]))[0], option=orjson.OPT_SERIALIZE_NUMPY
)
_next_input = cycle(INPUTS).__next__

app = Flask(__name__)


@app.post("/verify_vector_image")
@app.post("/classify_image_vector")
def floor_plus_models() -> Response:
    request.get_data(cache=False)
    registry.predict_all(_next_input())
    return Response(FIXED, mimetype="application/json")


@app.get("/health/ready")
def ready() -> Response:
    return Response(b'{"status":"ready"}', mimetype="application/json")
