"""The seed's endpoint, `POST /verify_vector_image`, and its documented alias."""

from __future__ import annotations

from flask import Blueprint, current_app, request

from mnist_serve.http.body import read_body
from mnist_serve.http.parsing import images_from_request
from mnist_serve.http.responses import json_response, seed_answers

bp = Blueprint("seed", __name__)


@bp.post("/verify_vector_image")
@bp.post("/classify_image_vector")
def verify_vector_image():
    """Both models' answers for one image (an object) or a batch (a list, one per image)."""
    max_batch = current_app.config["SETTINGS"].max_batch
    x, batched = images_from_request(request.mimetype, read_body(), max_batch)
    answers = seed_answers(current_app.extensions["mnist_registry"].predict_all(x))
    return json_response(answers if batched else answers[0])
