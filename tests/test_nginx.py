"""deploy/nginx/mnist-serve.conf with Debian's nginx in front of Gunicorn on a unix socket:
answers, the app's body limits, and slow clients held by nginx, not by sync workers."""

from __future__ import annotations

import os

import pytest
import requests
from benchmarks.nginx_front import NginxFront, nginx_binary

from mnist_serve import faults
from tests.conftest import start_server, stop_server


@pytest.fixture(scope="module")
def front(tmp_path_factory):
    if nginx_binary() is None:
        if os.environ.get("CI"):
            pytest.fail("nginx is missing: .ci/run installs Debian's nginx")
        pytest.skip("nginx is missing (apt-get install nginx)")
    folder = tmp_path_factory.mktemp("ngx")
    sock = folder / "g.sock"
    with NginxFront(folder, sock) as nginx:
        # Behind nginx even bare sync workers never see a slow client.
        settings = {"MNIST_SERVE_BIND": f"unix:{sock}", "MNIST_SERVE_WORKER_CLASS": "sync"}
        server = start_server(settings, url=nginx.url)
        yield nginx
        stop_server(server)


def test_answers_through_nginx(front, example_pixels):
    answer = requests.post(
        front.url + "/verify_vector_image", json={"image_vector": example_pixels}, timeout=10
    )
    assert answer.status_code == 200
    assert answer.json()["xgboost"]["predicted_number"] == 5


def test_body_limits_match_the_app_and_are_json(front):
    big = b"[" + b"0," * 800_000 + b"0]"  # 1.6 MB: over the 1 MiB body limit
    refused = requests.post(
        front.url + "/verify_vector_image",
        data=big,
        headers={"Content-Type": "application/json"},
        timeout=10,
    )
    assert refused.status_code == 413
    assert refused.json()["status"] == 413
    # Images may be up to 10 MiB: this one reaches the app, which says it is no image.
    image = requests.post(
        front.url + "/predict/image", data=big, headers={"Content-Type": "image/png"}, timeout=10
    )
    assert image.status_code != 413
    assert image.status_code < 500


def test_slow_clients_are_held_by_nginx_not_the_sync_workers(front):
    config = faults.FaultConfig(slow_clients=40, slow_seconds=15.0, normal_requests=20)
    result = faults.slow_clients(config, url=front.url)
    assert result["slow_clients"] == 40
    assert result["normal"]["failed"] == 0
