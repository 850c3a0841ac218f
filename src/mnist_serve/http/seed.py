"""The seed's endpoint, `POST /verify_vector_image`, and its documented alias."""

from __future__ import annotations

from flask import Blueprint, current_app, request

from mnist_serve.errors import InvalidInput
from mnist_serve.http.body import read_body
from mnist_serve.http.parsing import images_from_request
from mnist_serve.http.responses import json_response, seed_answers, seed_labels

bp = Blueprint("seed", __name__)


@bp.post("/verify_vector_image")
@bp.post("/classify_image_vector")
def verify_vector_image():
    """Both models' answers for one image (an object) or a batch (a list, one per image);
    `?output=labels` answers with the predicted digits only."""
    output = request.args.get("output", "full")
    if output not in ("full", "labels"):
        raise InvalidInput(
            f"output must be 'full' or 'labels', got {output[:40]!r}", field="output"
        )
    x, batched = images_from_request(
        request.mimetype, read_body(), current_app.config["SETTINGS"].max_batch
    )
    probabilities = current_app.extensions["mnist_registry"].predict_all(x)
    answers = seed_labels(probabilities) if output == "labels" else seed_answers(probabilities)
    return json_response(answers if batched else answers[0])
