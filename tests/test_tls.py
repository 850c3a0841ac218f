"""HTTPS straight from Gunicorn (MNIST_SERVE_CERTFILE / MNIST_SERVE_KEYFILE), with a
certificate made here for 127.0.0.1."""

from __future__ import annotations

import pytest
import requests

from tests.conftest import make_certificate, start_server, stop_server


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    return make_certificate(tmp_path_factory.mktemp("tls"))


def test_gunicorn_serves_https_with_the_given_certificate(certificate, example_pixels, tmp_path):
    cert, key = certificate
    log = tmp_path / "server.log"
    server = start_server(
        {"MNIST_SERVE_CERTFILE": str(cert), "MNIST_SERVE_KEYFILE": str(key)}, output=log
    )
    try:
        assert server.url.startswith("https://")
        answer = requests.post(
            server.url + "/verify_vector_image",
            json={"image_vector": example_pixels},
            verify=str(cert),
            timeout=10,
        )
        assert answer.status_code == 200
        assert answer.json()["mlp"]["predicted_number"] == 5
        # Plain HTTP to the TLS port is not served.
        try:
            plain = requests.get(server.url.replace("https", "http") + "/health/ready", timeout=5)
            plain_status = plain.status_code
        except requests.RequestException:
            plain_status = None
        assert plain_status != 200
        # And a client that does not trust the certificate refuses it.
        with pytest.raises(requests.exceptions.SSLError):
            requests.get(server.url + "/health/ready", timeout=5)
    finally:
        stop_server(server)
    # The plain-HTTP attempt is one warning line naming the likely cause, not a traceback.
    text = log.read_text()
    assert "TLS handshake failed with ip=127.0.0.1" in text
    assert "plain HTTP to the HTTPS port" in text
    assert "Traceback" not in text
