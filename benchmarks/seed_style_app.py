"""The seed's naive path, as a benchmark baseline: Flask + tf.keras `model.predict` +
`XGBClassifier.predict` on every request, using the same trained models (the originals).

Benchmark-only: it imports TensorFlow and XGBoost, which the product never does.
"""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import numpy as np
import xgboost as xgb
from flask import Flask, jsonify, request

from mnist_serve import repository

MODELS = Path(os.environ.get("MNIST_SERVE_MODEL_DIR", Path(__file__).parents[1] / "models"))


def original(name: str, suffix: str) -> Path:
    """The original file (Keras, UBJSON) of the version the product serves: its highest."""
    return MODELS / name / str(repository.versions(MODELS / name)[0]) / f"{name}{suffix}"


mlp = keras.models.load_model(original("mlp", ".keras"))
xgb_model = xgb.XGBClassifier()
xgb_model.load_model(original("xgboost", ".ubj"))

app = Flask(__name__)


@app.post("/verify_vector_image")
@app.post("/classify_image_vector")
def verify_vector_image():
    vector = np.array(request.get_json()["image_vector"]).reshape(1, 784) / 255
    return jsonify(
        {
            "mlp": {"predicted_number": int(np.argmax(mlp.predict(vector, verbose=0)))},
            "xgboost": {"predicted_number": int(xgb_model.predict(vector)[0])},
        }
    )


@app.get("/health/ready")
def ready():
    return jsonify({"status": "ready"})
