"""Request ids and log lines, against a real Gunicorn (JSON mode and the default text mode)."""

from __future__ import annotations

import json
import re

import pytest
import requests

from mnist_serve.logs import request_id_from
from tests.conftest import EXAMPLE, start_server, stop_server

GOOD = EXAMPLE.read_bytes()
HEX32 = re.compile(r"[0-9a-f]{32}")


@pytest.mark.parametrize(
    "given", ["abc-123", "0af7651916cd43dd8448eb211c80319c", "x" * 128, "a:b/c=d"]
)
def test_a_short_printable_request_id_is_kept(given):
    assert request_id_from(given) == given


@pytest.mark.parametrize("given", [None, "", "x" * 129, "has space", "tab\there", "é", "a\nb"])
def test_anything_else_gets_a_fresh_one(given):
    made = request_id_from(given)
    assert HEX32.fullmatch(made) and made != request_id_from(given)


def post(server, body: bytes, request_id: str | None = None) -> requests.Response:
    headers = {"Content-Type": "application/json"}
    if request_id is not None:
        headers["X-Request-ID"] = request_id
    return requests.post(
        server.url + "/verify_vector_image", data=body, headers=headers, timeout=30
    )


def test_the_server_echoes_a_request_id(server):
    response = post(server, GOOD, "trace-7")
    assert response.status_code == 200
    assert response.headers["X-Request-ID"] == "trace-7"


def test_the_server_makes_one_when_missing_or_unfit(server):
    made = server.get("/health/live").headers["X-Request-ID"]
    assert HEX32.fullmatch(made)
    replaced = server.get("/health/live", headers={"X-Request-ID": "x" * 200})
    assert HEX32.fullmatch(replaced.headers["X-Request-ID"])
    # Errors carry it too: the id is how an operator finds the failed request in the log.
    bad = post(server, b"{}", "bad-1")
    assert bad.status_code == 400 and bad.headers["X-Request-ID"] == "bad-1"


def test_json_mode_writes_only_json_lines_with_the_request_fields(tmp_path):
    log = tmp_path / "server.log"
    server = start_server(
        {
            "MNIST_SERVE_LOG_FORMAT": "json",
            "MNIST_SERVE_ACCESS_LOG": "true",
            "MNIST_SERVE_LOG_LEVEL": "info",
        },
        output=log,
    )
    try:
        assert post(server, GOOD, "req-42").ok
        assert post(server, b"[]").status_code == 400
    finally:
        stop_server(server)
    lines = [line for line in log.read_text().splitlines() if line.strip()]
    records = [json.loads(line) for line in lines]  # every line parses
    assert all({"time", "level", "message"} <= r.keys() for r in records)
    assert any(r["message"].startswith("Starting gunicorn") for r in records)
    (access,) = [r for r in records if r.get("request_id") == "req-42"]
    assert access["method"] == "POST"
    assert access["path"] == "/verify_vector_image"
    assert access["status"] == 200
    assert isinstance(access["duration_ms"], float) and access["duration_ms"] > 0
    assert access["remote_addr"] == "127.0.0.1"
    (bad,) = [r for r in records if r.get("status") == 400]
    assert HEX32.fullmatch(bad["request_id"])


def test_text_mode_stays_human_readable(tmp_path):
    log = tmp_path / "server.log"
    server = start_server({"MNIST_SERVE_LOG_LEVEL": "info"}, output=log)
    stop_server(server)
    lines = log.read_text().splitlines()
    assert any("[INFO] Starting gunicorn" in line for line in lines)
    assert not any(line.startswith("{") for line in lines)
