"""`POST /predict/image`: a PNG, JPEG, GIF or BMP file in, both models' answers out.

The answer is the seed's (`/verify_vector_image`) plus `image_vector`, the 28x28 grey levels
the models actually saw, so a caller can check the preprocessing (and replay it to the seed
endpoint as it is).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, request

from mnist_serve.errors import InvalidInput, UnsupportedMediaType
from mnist_serve.http.body import read_body
from mnist_serve.http.responses import json_response, seed_answers
from mnist_serve.images import PreparedImage, prepare_image
from mnist_serve.runtime import ModelRegistry

bp = Blueprint("image", __name__)

# The body is sniffed, not trusted: any of these may carry any of the accepted formats.
IMAGE_TYPES = frozenset(
    {
        "image/png",
        "image/jpeg",
        "image/jpg",
        "image/pjpeg",
        "image/gif",
        "image/bmp",
        "image/x-bmp",
        "image/x-ms-bmp",
        "application/octet-stream",
    }
)
FORM_FIELD = "image"


@bp.before_request
def _image_size_limit() -> None:
    # Photos are bigger than vectors: this blueprint has its own body limit.
    request.max_content_length = current_app.config["SETTINGS"].max_image_bytes


def image_bytes() -> bytes:
    """The uploaded file: the raw body (`Content-Type: image/...`) or multipart field `image`."""
    mimetype = request.mimetype
    if mimetype == "multipart/form-data":
        upload = request.files.get(FORM_FIELD)
        if upload is None:
            sent = sorted({*request.files, *request.form})[:10]
            raise InvalidInput(
                f"the multipart form has no file field {FORM_FIELD!r}",
                field=FORM_FIELD,
                fields=sent,
            )
        return upload.read()
    if mimetype in IMAGE_TYPES:
        return read_body()
    raise UnsupportedMediaType(
        f"unsupported Content-Type {mimetype or '(none)'!r}; send the image file as the body "
        f"with Content-Type image/png (or image/jpeg, image/gif, image/bmp), "
        f"or as the multipart form field {FORM_FIELD!r}",
        content_type=mimetype,
    )


def image_answer(prepared: PreparedImage, registry: ModelRegistry) -> dict[str, Any]:
    """The seed's answer for one prepared image, plus what the models saw and where it came from."""
    answer = seed_answers(registry.predict_all(prepared.vector()))[0]
    return {
        **answer,
        "image_vector": prepared.pixels,
        "image": {
            "format": prepared.format,
            "width": prepared.width,
            "height": prepared.height,
            "inverted": prepared.inverted,
        },
    }


@bp.post("/predict/image")
def predict_image():
    """Both models' answers for one image file, and the 28x28 input they were given."""
    prepared = prepare_image(image_bytes(), current_app.config["SETTINGS"].max_image_pixels)
    return json_response(image_answer(prepared, current_app.extensions["mnist_registry"]))
