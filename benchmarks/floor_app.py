"""The floor: a no-op Flask endpoint under the same Gunicorn settings as the product.

It reads the body and returns a fixed answer, so the product's distance from it is exactly the
product's own work (parsing, validation, two models, encoding). The answer is a real one of the
served models, made once at start (`answer()`), so its size is the product's.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from flask import Flask, Response, request

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "mnist_image_example.json"


def answer() -> bytes:
    """The product's answer, byte for byte: from $FLOOR_ANSWER_FILE when the load test wrote one
    (its first request body's answer), else `mnist-serve predict` on the example, in a child
    process so this app never loads the models itself."""
    path = os.environ.get("FLOOR_ANSWER_FILE")
    if path:
        return Path(path).read_bytes()
    out = subprocess.run(
        [sys.executable, "-m", "mnist_serve.cli", "predict", str(EXAMPLE)],
        capture_output=True,
        check=True,
    )
    return out.stdout.strip()


FIXED = answer()

app = Flask(__name__)


@app.post("/verify_vector_image")
@app.post("/classify_image_vector")
def floor() -> Response:
    request.get_data(cache=False)
    return Response(FIXED, mimetype="application/json")


@app.get("/health/ready")
def ready() -> Response:
    return Response(b'{"status":"ready"}', mimetype="application/json")
