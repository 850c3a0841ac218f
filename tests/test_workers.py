"""The gevent worker sends each response as one TCP segment (TCP_CORK), counted by the kernel.

The client's own socket says how many segments it received (`tcpi_segs_in` of TCP_INFO): on a
one-request connection, Gunicorn's headers, body and FIN arrive as three segments when sent
apart, as one when corked. The count is of segments, not time.
"""

from __future__ import annotations

import socket
import struct
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests

from tests.conftest import start_server, stop_server

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="TCP_CORK is Linux's")

REQUESTS = 20
SEGS_IN_OFFSET = 140  # struct tcp_info: tcpi_segs_in (Linux 4.2+)
EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "mnist_image_example.json"


def segments_received(url: str, body: bytes) -> tuple[list[int], set[bytes]]:
    """Per request (one connection each, closed by the server): segments the client received,
    and the distinct answers."""
    address = (urlsplit(url).hostname, urlsplit(url).port)
    request = (
        f"POST /verify_vector_image HTTP/1.1\r\nHost: {address[0]}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    counts, answers = [], set()
    for _ in range(REQUESTS):
        with socket.create_connection(address, timeout=10) as conn:
            conn.sendall(request)
            chunks = []
            while chunk := conn.recv(65536):  # until the server's FIN
                chunks.append(chunk)
            info = conn.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 256)
        counts.append(struct.unpack_from("I", info, SEGS_IN_OFFSET)[0])
        head, _, answer = b"".join(chunks).partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200"), head[:80]
        answers.add(answer)
    return counts, answers


@pytest.fixture(scope="module")
def uncorked():
    srv = start_server({"MNIST_SERVE_TCP_CORK": "false", "MNIST_SERVE_WORKERS": "1"})
    yield srv
    stop_server(srv)


def test_corked_responses_take_fewer_segments_and_say_the_same(server, uncorked):
    corked, corked_answers = segments_received(server.url, EXAMPLE.read_bytes())
    plain, plain_answers = segments_received(uncorked.url, EXAMPLE.read_bytes())
    assert len(corked_answers) == 1 and corked_answers == plain_answers
    # Headers, body and FIN together: at least two segments fewer on every connection.
    assert max(corked) <= min(plain) - 2, (corked, plain)


def test_big_responses_arrive_whole(server):
    # Larger than one segment's worth of a corked socket's hold-back: the OpenAPI document.
    answer = server.get("/openapi.json")
    assert answer.status_code == 200
    assert len(answer.content) == int(answer.headers["Content-Length"])
    assert answer.json()["openapi"].startswith("3.1")


@pytest.fixture(scope="module")
def guarded():
    srv = start_server({"MNIST_SERVE_API_TOKEN": "s3cret", "MNIST_SERVE_WORKERS": "1"})
    yield srv
    stop_server(srv)


def answer_to(url: str, request: bytes) -> bytes:
    """Everything the server sends back to a raw request, until it closes."""
    address = (urlsplit(url).hostname, urlsplit(url).port)
    with socket.create_connection(address, timeout=10) as conn:
        conn.sendall(request)
        chunks = []
        while chunk := conn.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


@pytest.mark.parametrize(
    "path, headers, size, status",
    [
        # Refused before the body is read: the body is still unread when the server closes.
        ("/predict/image", {"Content-Type": "image/png"}, 300_000, 401),
        (
            "/verify_vector_image",
            {"Content-Type": "application/json", "Authorization": "Bearer s3cret"},
            2_000_000,
            413,
        ),
    ],
    ids=["401 before the body", "413 before the body"],
)
def test_answers_given_before_the_body_is_read_still_arrive(guarded, path, headers, size, status):
    # Closing a corked socket with unread input resets the connection and drops the answer:
    # the worker flushes it first, so a client that sent its whole body still reads it.
    for _ in range(5):
        answer = requests.post(guarded.url + path, data=b"\0" * size, headers=headers, timeout=10)
        assert answer.status_code == status
        assert answer.json()["status"] == status


def test_a_malformed_request_gets_its_414(guarded):
    # Gunicorn's own error answer (a request line over its limit) leaves corked, then flushed.
    answer = answer_to(guarded.url, b"GET /" + b"a" * 5000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 414"), answer[:200]


def test_expect_100_continue_gets_the_interim_line_then_the_answer(server):
    # The client sends its body only after "100 Continue" (the worker uncorks such requests so
    # that line is not held back; how soon it comes is a matter of time, not asserted here).
    body = EXAMPLE.read_bytes()
    address = (urlsplit(server.url).hostname, urlsplit(server.url).port)
    head = (
        "POST /verify_vector_image HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()
    with socket.create_connection(address, timeout=10) as conn:
        conn.sendall(head)
        assert conn.recv(1024) == b"HTTP/1.1 100 Continue\r\n\r\n"
        conn.sendall(body)
        chunks = []
        while chunk := conn.recv(65536):
            chunks.append(chunk)
    answer = b"".join(chunks)
    assert answer.startswith(b"HTTP/1.1 200")
    assert b'"predicted_number":5' in answer
