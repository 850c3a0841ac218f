"""The floor: a no-op Flask endpoint under the same Gunicorn settings as the product.

It reads the body and returns a fixed answer of the product's size, so the product's distance
from it is exactly the product's own work (parsing, validation, two models, encoding).
"""

from __future__ import annotations

from flask import Flask, Response, request

# A real answer of the product for the example image, so response sizes match.
FIXED = (
    b'{"mlp":{"predicted_number":5,"confidence":0.99999,"probabilities":[1.1e-09,2.2e-08,'
    b"3.3e-07,0.0012,4.4e-12,0.99879,5.5e-10,6.6e-08,7.7e-07,8.8e-08]},"
    b'"xgboost":{"predicted_number":5,"confidence":0.98765,"probabilities":[0.0011,0.0012,'
    b"0.0013,0.0014,0.0015,0.98765,0.0016,0.0017,0.0018,0.0019]}}"
)

app = Flask(__name__)


@app.post("/verify_vector_image")
@app.post("/classify_image_vector")
def floor() -> Response:
    request.get_data(cache=False)
    return Response(FIXED, mimetype="application/json")


@app.get("/health/ready")
def ready() -> Response:
    return Response(b'{"status":"ready"}', mimetype="application/json")
