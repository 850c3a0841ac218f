"""Fixtures: a real Gunicorn on a free loopback port, talking HTTP, as users do."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

# In CI a skipped test fails the run (tests/ci_guard.py).
pytest_plugins = ["tests.ci_guard"]

ROOT = Path(__file__).resolve().parents[1]
MODELS = ROOT / "models"
EXAMPLE = ROOT / "examples" / "mnist_image_example.json"
SHARED_MNIST = ROOT.parent / "shared" / "mnist"


def served_version(name: str) -> str:
    """The version the shipped repository serves for `name`: its highest (the ensemble: 1)."""
    from mnist_serve import repository

    versions = repository.versions(MODELS / name)
    return str(versions[0]) if versions else "1"


def version_one_repository(tmp_path: Path) -> Path:
    """A repository holding each shipped model's version 1 only: tests that add, break and
    remove versions start from it, whatever versions the project ships."""
    from mnist_serve.repository import model_names

    target = tmp_path / "models"
    for name in model_names(MODELS):
        shutil.copytree(MODELS / name / "1", target / name / "1")
    return target


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_certificate(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate and key for 127.0.0.1 (one day), made with openssl."""
    openssl = shutil.which("openssl")
    assert openssl, "the openssl command is needed to make a test certificate"
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            openssl,
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


@dataclass
class Server:
    url: str
    process: subprocess.Popen

    def post(self, path: str, body: bytes | str, content_type: str = "application/json", **kw):
        return requests.post(
            self.url + path, data=body, headers={"Content-Type": content_type}, timeout=10, **kw
        )

    def get(self, path: str, **kw):
        return requests.get(self.url + path, timeout=10, **kw)

    def worker_pids(self) -> list[int]:
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        return [int(p) for p in children.read_text().split()]


def start_server(
    env_overrides: dict[str, str] | None = None,
    model_dir: Path = MODELS,
    output: Path | None = None,
    url: str | None = None,
) -> Server:
    """Gunicorn on a free loopback port; `output`: a file for its stdout and stderr; `url`: where
    it answers when that is not its own TCP port (e.g. a proxy in front)."""
    port = free_port()
    env = {
        **os.environ,
        "MNIST_SERVE_BIND": f"127.0.0.1:{port}",
        "MNIST_SERVE_WORKERS": "2",
        "MNIST_SERVE_MODEL_DIR": str(model_dir),
        "MNIST_SERVE_LOG_LEVEL": "warning",
        **(env_overrides or {}),
    }
    sink = None if output is None else output.open("ab")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "-c",
            "python:mnist_serve.gunicorn_conf",
            "mnist_serve.wsgi:app",
        ],
        env=env,
        cwd=ROOT,
        stdout=sink,
        stderr=None if sink is None else subprocess.STDOUT,
    )
    if sink is not None:
        sink.close()  # the child holds its own copy
    # HTTPS when the test hands Gunicorn a certificate (then trusted for the readiness check).
    scheme = "https" if env.get("MNIST_SERVE_CERTFILE") else "http"
    verify = env.get("MNIST_SERVE_CERTFILE") or True
    url = url or f"{scheme}://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {process.returncode}")
        try:
            if requests.get(url + "/health/ready", timeout=5, verify=verify).status_code == 200:
                return Server(url, process)
        except requests.RequestException:
            # Not listening yet, or listening while the workers still load (a busy machine).
            pass
        time.sleep(0.1)
    process.kill()
    process.wait()
    raise RuntimeError("gunicorn did not become ready within 120 s")


def stop_server(server: Server) -> None:
    server.process.terminate()
    try:
        server.process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait()


@pytest.fixture(scope="session")
def server() -> Iterator[Server]:
    srv = start_server()
    yield srv
    stop_server(srv)


@pytest.fixture(scope="session")
def example() -> dict:
    return json.loads(EXAMPLE.read_text())


@pytest.fixture(scope="session")
def example_pixels(example) -> list[int]:
    return example["image_vector"]
