"""`mnist-serve healthcheck`, run as Docker runs the image's HEALTHCHECK: the installed command
in a fresh process, configured only by MNIST_SERVE_* variables, against a real Gunicorn."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mnist_serve.config import load_settings
from mnist_serve.healthcheck import HealthcheckError, check_ready, target
from tests.conftest import (
    MODELS,
    ROOT,
    free_port,
    make_certificate,
    start_server,
    stop_server,
)

COMMAND = Path(sys.executable).parent / "mnist-serve"


def healthcheck(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    """The console script with only these MNIST_SERVE_* settings (none inherited)."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MNIST_SERVE_")}
    return subprocess.run(
        [str(COMMAND), "healthcheck", *args],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def port_of(url: str) -> int:
    return int(url.rsplit(":", 1)[1])


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    return make_certificate(tmp_path_factory.mktemp("tls"))


@pytest.mark.parametrize(
    ("bind", "url"),
    [
        ("127.0.0.1:8887", "http://127.0.0.1:8887/health/ready"),
        ("0.0.0.0:8887", "http://127.0.0.1:8887/health/ready"),
        ("[::]:9000", "http://[::1]:9000/health/ready"),
        ("[::1]:9001", "http://[::1]:9001/health/ready"),
        ("localhost:80", "http://localhost:80/health/ready"),
        ("unix:/run/mnist.sock", "http+unix:///run/mnist.sock/health/ready"),
    ],
)
def test_the_address_asked_follows_the_bind(bind, url):
    assert target(load_settings(bind=bind)).url == url


def test_a_certificate_means_https(certificate):
    cert, key = certificate
    settings = load_settings(bind="0.0.0.0:8443", certfile=cert, keyfile=key)
    assert target(settings).url == "https://127.0.0.1:8443/health/ready"


def test_a_ready_server_over_http_exits_0(server):
    result = healthcheck({"MNIST_SERVE_BIND": f"0.0.0.0:{port_of(server.url)}"})
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""


def test_a_tls_server_exits_0_with_its_certificate_settings(certificate):
    cert, key = certificate
    tls = {"MNIST_SERVE_CERTFILE": str(cert), "MNIST_SERVE_KEYFILE": str(key)}
    server = start_server({**tls, "MNIST_SERVE_WORKERS": "1"})
    try:
        bind = {"MNIST_SERVE_BIND": f"0.0.0.0:{port_of(server.url)}"}
        result = healthcheck({**bind, **tls})
        assert result.returncode == 0, result.stderr
        # Without them the check speaks plain HTTP to the HTTPS port (the old HEALTHCHECK's
        # failure): not ready, in one line that names the URL and points at the setting.
        plain = healthcheck(bind)
        assert plain.returncode == 1
        [line] = plain.stderr.splitlines()
        assert f"http://127.0.0.1:{port_of(server.url)}/health/ready" in line
        assert "MNIST_SERVE_CERTFILE" in line
    finally:
        stop_server(server)


def test_nothing_listening_exits_1_with_one_line_naming_the_url():
    port = free_port()
    result = healthcheck({"MNIST_SERVE_BIND": f"127.0.0.1:{port}"}, "--timeout", "1")
    assert result.returncode == 1
    [line] = result.stderr.splitlines()
    assert f"http://127.0.0.1:{port}/health/ready" in line
    assert "refused" in line.lower()


def test_a_bad_setting_exits_1_not_2_with_one_line():
    """Docker reserves exit status 2 for HEALTHCHECK commands."""
    result = healthcheck({"MNIST_SERVE_BIND": "garbage"})
    assert result.returncode == 1
    [line] = result.stderr.splitlines()
    assert "MNIST_SERVE_BIND='garbage'" in line


@pytest.mark.parametrize("args", [("--timeout", "2s"), ("--timout", "2")])
def test_a_mistyped_command_line_exits_1_not_2_naming_the_mistake(args):
    result = healthcheck({}, *args)
    assert result.returncode == 1
    assert args[0] in result.stderr and args[1] in result.stderr


def test_an_ipv6_loopback_server_exits_0():
    port = free_port()
    bind = {"MNIST_SERVE_BIND": f"[::1]:{port}"}
    server = start_server({**bind, "MNIST_SERVE_WORKERS": "1"}, url=f"http://[::1]:{port}")
    try:
        result = healthcheck(bind)
        assert result.returncode == 0, result.stderr
    finally:
        stop_server(server)


def test_a_unix_socket_server_exits_0(tmp_path):
    sock = tmp_path / "gunicorn.sock"
    env = {"MNIST_SERVE_BIND": f"unix:{sock}"}
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MNIST_SERVE_")}
    server_env = {
        **clean,
        **env,
        "MNIST_SERVE_WORKERS": "1",
        "MNIST_SERVE_MODEL_DIR": str(MODELS),
        "MNIST_SERVE_LOG_LEVEL": "warning",
    }
    argv = [sys.executable, "-m", "gunicorn", "-c", "python:mnist_serve.gunicorn_conf"]
    process = subprocess.Popen([*argv, "mnist_serve.wsgi:app"], env=server_env, cwd=ROOT)
    try:
        settings = load_settings(bind=f"unix:{sock}")
        deadline = time.monotonic() + 120
        while True:  # the library call while the server starts; then the command, once
            assert process.poll() is None, f"gunicorn exited with {process.returncode}"
            try:
                check_ready(settings, timeout=5)
                break
            except HealthcheckError:
                assert time.monotonic() < deadline, "not ready over the unix socket in 120 s"
                time.sleep(0.2)
        result = healthcheck(env)
        assert result.returncode == 0, result.stderr
    finally:
        process.terminate()
        process.wait(timeout=30)
    # Gone: one line naming the socket.
    gone = healthcheck(env)
    assert gone.returncode == 1
    [line] = gone.stderr.splitlines()
    assert str(sock) in line
