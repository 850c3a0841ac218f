"""Model outputs -> the seed's JSON answer, encoded once by orjson."""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson
from flask import Response

_OPTIONS = orjson.OPT_SERIALIZE_NUMPY


def json_response(payload: Any, status: int = 200) -> Response:
    """orjson-encoded JSON: numpy arrays and scalars serialise natively, no .tolist()."""
    return Response(
        orjson.dumps(payload, option=_OPTIONS), status=status, mimetype="application/json"
    )


def seed_answers(probabilities: dict[str, np.ndarray]) -> list[dict[str, Any]]:
    """One `{"mlp": {"predicted_number": 5, ...}, "xgboost": {...}}` per image."""
    per_model = {}
    for name, proba in probabilities.items():
        labels = proba.argmax(axis=1)
        confidence = proba[np.arange(len(labels)), labels]
        per_model[name] = (labels.tolist(), confidence, proba)
    n = len(next(iter(probabilities.values())))
    return [
        {
            name: {
                "predicted_number": labels[i],
                "confidence": confidence[i],
                "probabilities": proba[i],
            }
            for name, (labels, confidence, proba) in per_model.items()
        }
        for i in range(n)
    ]


def seed_labels(probabilities: dict[str, np.ndarray]) -> list[dict[str, Any]]:
    """`?output=labels`: one `{"mlp": {"predicted_number": 5}, ...}` per image, nothing else.

    For big batches the probabilities dominate the answer (10 floats per model per image) and
    their encoding the worker's time; a caller that wants only the digits skips both."""
    labels = {name: proba.argmax(axis=1).tolist() for name, proba in probabilities.items()}
    n = len(next(iter(labels.values())))
    return [{name: {"predicted_number": got[i]} for name, got in labels.items()} for i in range(n)]
