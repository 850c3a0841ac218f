"""Operator-facing start-up errors: one line naming the variable or file, non-zero exit, for
both `mnist-serve serve` and plain `gunicorn -c python:mnist_serve.gunicorn_conf ...`."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys

import pytest

from mnist_serve import faults
from tests.conftest import MODELS, ROOT, free_port, version_one_repository

GUNICORN = [sys.executable, "-m", "gunicorn", "-c", "python:mnist_serve.gunicorn_conf"]
GUNICORN += ["mnist_serve.wsgi:app"]
SERVE = [sys.executable, "-m", "mnist_serve.cli", "serve"]
COMMANDS = pytest.mark.parametrize("command", [GUNICORN, SERVE], ids=["gunicorn", "serve"])


def run(command: list[str], **env: str) -> subprocess.CompletedProcess:
    full_env = {
        **os.environ,
        "MNIST_SERVE_BIND": f"127.0.0.1:{free_port()}",
        "MNIST_SERVE_WORKERS": "1",
        "MNIST_SERVE_MODEL_DIR": str(MODELS),
        "MNIST_SERVE_LOG_LEVEL": "warning",
        **env,
    }
    return subprocess.run(
        command, env=full_env, cwd=ROOT, capture_output=True, text=True, timeout=120
    )


def error_lines(result: subprocess.CompletedProcess) -> list[str]:
    """Our one-line errors: `mnist-serve: error: ...` (Gunicorn's config) or
    `mnist-serve serve: error: ...` (the CLI's own checks before it starts Gunicorn)."""
    return [
        line for line in result.stderr.splitlines() if re.match(r"mnist-serve( \w+)?: error:", line)
    ]


@COMMANDS
@pytest.mark.parametrize(
    ("variable", "value", "accepted"),
    [
        ("MNIST_SERVE_WORKERS", "abc", "valid integer"),
        ("MNIST_SERVE_WORKERS", "0", "greater than or equal to 1"),
        ("MNIST_SERVE_BIND", "garbage", "host:port"),
        ("MNIST_SERVE_BIND", "127.0.0.1:99999", "host:port"),
        ("MNIST_SERVE_WORKER_CLASS", "eventlet", "'gevent'"),
        ("MNIST_SERVE_LOG_LEVEL", "chatty", "one of"),
        ("MNIST_SERVE_CERTFILE", "/nonexistent/cert.pem", "readable file"),
    ],
)
def test_a_bad_setting_is_one_line_naming_variable_value_and_what_is_accepted(
    command, variable, value, accepted
):
    result = run(command, **{variable: value})
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert f"{variable}='{value}' is not accepted" in lines[0]
    assert accepted in lines[0]


def test_half_a_tls_pair_is_refused_naming_both_variables(tmp_path):
    cert = tmp_path / "cert.pem"
    cert.write_text("x")
    result = run(GUNICORN, MNIST_SERVE_CERTFILE=str(cert))
    assert result.returncode != 0
    assert "MNIST_SERVE_CERTFILE and MNIST_SERVE_KEYFILE" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_token_is_never_echoed_in_an_error():
    result = run(GUNICORN, MNIST_SERVE_API_TOKEN="   ")
    assert result.returncode != 0
    assert "MNIST_SERVE_API_TOKEN=<hidden>" in result.stderr


@COMMANDS
def test_a_port_in_use_is_one_line_saying_how_to_pick_another(command):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run(command, MNIST_SERVE_BIND=f"127.0.0.1:{port}")
    assert result.returncode != 0
    assert result.stderr.strip().count("\n") == 0, result.stderr
    assert f"port {port} is already in use" in result.stderr
    assert f"MNIST_SERVE_BIND=127.0.0.1:{port + 1}" in result.stderr


def _corrupted_models(tmp_path):
    """A repository whose only version of `mlp` has a corrupted serving artifact."""
    models = version_one_repository(tmp_path)
    artifact = models / "mlp" / "1" / "mlp.onnx"
    data = bytearray(artifact.read_bytes())
    data[len(data) // 2] ^= 0xFF
    artifact.write_bytes(bytes(data))
    return models, artifact


@pytest.mark.parametrize("preload", ["true", "false"])
def test_a_corrupted_artifact_is_one_line_without_a_traceback(tmp_path, preload):
    models, artifact = _corrupted_models(tmp_path)
    name = artifact.name
    result = run(GUNICORN, MNIST_SERVE_MODEL_DIR=str(models), MNIST_SERVE_PRELOAD=preload)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = error_lines(result)
    assert len(lines) == 1, result.stderr
    assert "cannot load the models" in lines[0] and name in lines[0]


def test_the_traceback_is_there_at_debug_level(tmp_path):
    models, _ = _corrupted_models(tmp_path)
    result = run(GUNICORN, MNIST_SERVE_MODEL_DIR=str(models), MNIST_SERVE_LOG_LEVEL="debug")
    assert result.returncode != 0
    assert "Traceback" in result.stderr
    assert len(error_lines(result)) == 1


def test_serve_refuses_a_missing_artifact_in_one_line(tmp_path):
    models, artifact = _corrupted_models(tmp_path)
    artifact.unlink()
    name = artifact.name
    result = run(SERVE, MNIST_SERVE_MODEL_DIR=str(models))
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert len(error_lines(result)) == 1, result.stderr
    assert name in result.stderr


def test_a_bind_on_gunicorns_command_line_wins_over_the_variable():
    """The seed's `gunicorn --bind ...` must not be refused for MNIST_SERVE_BIND's port."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = taken.getsockname()[1]
        port = free_port()
        env = {**os.environ, "MNIST_SERVE_BIND": f"127.0.0.1:{busy}", "MNIST_SERVE_WORKERS": "1"}
        process = subprocess.Popen(
            [*GUNICORN[:-1], "--bind", f"127.0.0.1:{port}", GUNICORN[-1]],
            env=env,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            assert faults.wait_ready(f"http://127.0.0.1:{port}", timeout=120) >= 0
        finally:
            process.terminate()
            process.wait(timeout=30)
