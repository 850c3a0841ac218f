"""`POST /predict/image` over real HTTP: image files in, the seed's answer plus the 28x28 out."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
import requests
from PIL import Image

from tests.conftest import start_server, stop_server
from tests.drawing import (
    BAD_IMAGES,
    animated_gif,
    draw_digit,
    encode,
    jpeg_declaring,
    png_bomb,
    truncated_png,
)

PATH = "/predict/image"


def seven(fmt: str = "PNG", **options) -> bytes:
    image = draw_digit(7, size=240, stroke=24, canvas=(640, 480), at=(300, 120))
    return encode(image.convert("RGB") if fmt == "JPEG" else image, fmt, **options)


def assert_seed_answer(answer: dict, digit: int) -> None:
    for model in ("mlp", "xgboost"):
        assert answer[model]["predicted_number"] == digit, answer[model]
        probabilities = answer[model]["probabilities"]
        assert len(probabilities) == 10 and abs(sum(probabilities) - 1) < 1e-4
        assert answer[model]["confidence"] == max(probabilities)


def assert_still_serving(server) -> None:
    small = encode(draw_digit(7, size=200, stroke=20, canvas=(400, 400)))
    response = server.post(PATH, small, "image/png")
    assert response.status_code == 200
    assert response.json()["mlp"]["predicted_number"] == 7


@pytest.mark.parametrize(
    ("fmt", "content_type"),
    [
        ("PNG", "image/png"),
        ("JPEG", "image/jpeg"),
        ("GIF", "image/gif"),
        ("BMP", "image/bmp"),
        ("PNG", "application/octet-stream"),
        ("JPEG", "image/png"),  # the bytes are sniffed, not the label trusted
    ],
)
def test_raw_body_in_every_format(server, fmt, content_type):
    response = server.post(PATH, seven(fmt), content_type)
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"] == "application/json"
    answer = response.json()
    assert_seed_answer(answer, 7)
    assert answer["image"] == {"format": fmt, "width": 640, "height": 480, "inverted": True}


def test_multipart_form_field_image(server):
    files = {"image": ("digit.png", seven(), "image/png")}
    response = requests.post(server.url + PATH, files=files, data={"note": "hi"}, timeout=10)
    assert response.status_code == 200, response.text
    assert_seed_answer(response.json(), 7)


def test_the_28x28_it_returns_is_what_the_models_saw(server):
    answer = server.post(PATH, seven(), "image/png").json()
    vector = answer["image_vector"]
    assert len(vector) == 28 and all(len(row) == 28 for row in vector)
    flat = [v for row in vector for v in row]
    assert all(type(v) is int and 0 <= v <= 255 for v in flat) and max(flat) == 255
    # Replayed to the seed endpoint, it gets exactly the same answer.
    replay = server.post("/verify_vector_image", json.dumps({"image_vector": vector})).json()
    for model in ("mlp", "xgboost"):
        assert replay[model] == answer[model]


def test_a_large_photo_over_the_vector_body_limit_is_accepted(server):
    # A noisy 1600x1600 photo: about 2.5 MB as PNG, beyond the 1 MiB limit for vectors.
    rng = np.random.default_rng(0)
    page = np.asarray(draw_digit(4, size=1000, stroke=90, canvas=(1600, 1600)), dtype=float)
    photo = np.clip(page * 0.8 + 30 + rng.normal(0, 10, page.shape), 0, 255).astype(np.uint8)
    body = encode(Image.fromarray(photo))
    assert len(body) > 1024 * 1024
    response = server.post(PATH, body, "image/png")
    assert response.status_code == 200, response.text
    assert_seed_answer(response.json(), 4)
    # ... while the vector endpoint keeps its own, smaller limit.
    assert server.post("/verify_vector_image", body, "application/octet-stream").status_code == 413


# --- bad requests -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "status", "text"),
    [(b[1], b[2].status_code, b[3]) for b in BAD_IMAGES if b[1]],
    ids=[b[0] for b in BAD_IMAGES if b[1]],
)
def test_bad_images_get_a_json_4xx(server, data, status, text):
    response = server.post(PATH, data, "image/png")
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"] == "application/json"
    assert text in response.json()["error"]
    assert_still_serving(server)


REQUESTS = [
    ("empty body", b"", "image/png", 400, "0 bytes"),
    ("json body", b'{"image_vector": []}', "application/json", 415, "Content-Type"),
    ("text body", b"7", "text/plain", 415, "image/png"),
    ("no content type", seven(), "", 415, "Content-Type"),
    (
        "form urlencoded (curl --data-binary)",
        seven(),
        "application/x-www-form-urlencoded",
        415,
        "multipart",
    ),
    ("svg", b"<svg xmlns='http://www.w3.org/2000/svg'/>", "image/svg+xml", 415, "image/svg+xml"),
]


@pytest.mark.parametrize(
    ("body", "content_type", "status", "text"),
    [r[1:] for r in REQUESTS],
    ids=[r[0] for r in REQUESTS],
)
def test_bad_requests_get_a_json_4xx(server, body, content_type, status, text):
    headers = {"Content-Type": content_type} if content_type else {}
    response = requests.post(server.url + PATH, data=body, headers=headers, timeout=10)
    assert response.status_code == status, response.text
    assert text in response.json()["error"]
    assert_still_serving(server)


def test_multipart_without_the_image_field_names_what_it_got(server):
    files = {"picture": ("digit.png", seven(), "image/png")}
    response = requests.post(server.url + PATH, files=files, timeout=10)
    assert response.status_code == 400
    error = response.json()
    assert "no file field 'image'" in error["error"]
    assert error["field"] == "image" and error["fields"] == ["picture"]


@pytest.mark.parametrize(
    "data",
    [truncated_png(), animated_gif(), png_bomb(20_000, 20_000)],
    ids=["truncated", "animated", "bomb"],
)
def test_bad_uploads_in_a_form_are_refused_the_same(server, data):
    files = {"image": ("upload.png", data, "image/png")}
    response = requests.post(server.url + PATH, files=files, timeout=10)
    assert 400 <= response.status_code < 500
    assert response.json()["error"]


def test_get_is_405_with_allow_header(server):
    response = server.get(PATH)
    assert response.status_code == 405
    assert response.headers["Allow"] == "POST" or "POST" in response.headers["Allow"]


# --- limits are configurable; bombs never reach memory --------------------------------------


@pytest.fixture(scope="module")
def tight_server():
    """One worker, small image limits: 128 KiB files, 250 000 pixels."""
    server = start_server(
        {
            "MNIST_SERVE_WORKERS": "1",
            "MNIST_SERVE_MAX_IMAGE_BYTES": str(128 * 1024),
            "MNIST_SERVE_MAX_IMAGE_PIXELS": "250000",
        }
    )
    yield server
    stop_server(server)


def test_the_byte_limit_is_configurable(tight_server):
    big = encode(Image.fromarray(np.random.default_rng(0).integers(0, 255, (450, 450), np.uint8)))
    assert len(big) > 128 * 1024
    for response in (
        tight_server.post(PATH, big, "image/png"),
        requests.post(tight_server.url + PATH, files={"image": ("a.png", big)}, timeout=10),
    ):
        assert response.status_code == 413
        assert response.json()["limit_bytes"] == 128 * 1024
    # A chunked upload (no Content-Length) is held to the same limit.
    chunked = requests.post(
        tight_server.url + PATH,
        data=iter([big[i : i + 8192] for i in range(0, len(big), 8192)]),
        headers={"Content-Type": "image/png"},
        timeout=10,
    )
    assert chunked.status_code == 413


def test_the_pixel_limit_is_configurable(tight_server):
    ok = encode(draw_digit(7, size=200, stroke=20, canvas=(500, 500)))
    assert tight_server.post(PATH, ok, "image/png").status_code == 200
    too_big = encode(draw_digit(7, size=200, stroke=20, canvas=(501, 500)))
    response = tight_server.post(PATH, too_big, "image/png")
    assert response.status_code == 413
    assert response.json() == {
        "error": "the image is 501x500 = 250500 pixels; the limit is 250000",
        "width": 501,
        "height": 500,
        "max_pixels": 250000,
    }


def peak_rss_kib(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM")))


def test_image_bombs_do_not_grow_the_worker(tight_server):
    (worker,) = tight_server.worker_pids()
    assert_still_serving(tight_server)
    before = peak_rss_kib(worker)
    bombs = [png_bomb(20_000, 20_000), png_bomb(3000, 3000), jpeg_declaring(20_000, 20_000)]
    for bomb in bombs:
        assert len(bomb) < 128 * 1024
        response = tight_server.post(PATH, bomb, "image/png")
        assert response.status_code == 413, response.text
    # Decoding any of them would take 9 to 400 MB; refusing them takes nothing.
    assert peak_rss_kib(worker) - before < 8 * 1024
    assert tight_server.worker_pids() == [worker]


def test_a_decodable_image_near_the_limit_costs_little_memory(tight_server):
    (worker,) = tight_server.worker_pids()
    before = peak_rss_kib(worker)
    image = io.BytesIO()
    Image.new("L", (500, 500), 255).save(image, "PNG")
    response = tight_server.post(PATH, image.getvalue(), "image/png")
    assert response.status_code == 400 and "blank" in response.json()["error"]
    assert peak_rss_kib(worker) - before < 32 * 1024
