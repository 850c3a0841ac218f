"""The seed's own launch command still works: `gunicorn --bind ... --workers=N wsgi:app`."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import requests

from tests.conftest import EXAMPLE, ROOT, free_port


def runs_onnxruntime(pid: int) -> bool:
    """Whether the process has ONNX Runtime's native library mapped, i.e. has loaded a model."""
    return "onnxruntime_pybind11_state" in Path(f"/proc/{pid}/maps").read_text()


def test_seed_command_from_the_project_root():
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers=1",
            "wsgi:app",
        ],
        cwd=ROOT,  # picks up ./gunicorn.conf.py, as the seed's command does
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            assert process.poll() is None, "gunicorn exited"
            try:
                response = requests.post(
                    f"http://127.0.0.1:{port}/classify_image_vector",
                    data=EXAMPLE.read_bytes(),
                    headers={"Content-Type": "application/json"},
                    timeout=5,
                )
                break
            except requests.RequestException:
                assert time.monotonic() < deadline, "not answering after 120 s"
                time.sleep(0.2)
        assert response.status_code == 200
        assert json.loads(response.text)["mlp"]["predicted_number"] == 5
        assert json.loads(response.text)["xgboost"]["predicted_number"] == 5
    finally:
        process.terminate()
        process.wait(timeout=20)


def test_loading_per_worker_still_works():
    """MNIST_SERVE_PRELOAD=false: each worker loads and verifies the models after the fork;
    the master never does."""
    from tests.conftest import start_server, stop_server

    server = start_server({"MNIST_SERVE_PRELOAD": "false", "MNIST_SERVE_WORKERS": "2"})
    try:
        response = server.post("/verify_vector_image", EXAMPLE.read_bytes())
        assert response.status_code == 200
        assert response.json()["xgboost"]["predicted_number"] == 5
        workers = server.worker_pids()
        assert len(workers) == 2
        # One worker answering says nothing about the other, which may still be loading: wait
        # (bounded) until both have the models, then check the master never loaded them.
        deadline = time.monotonic() + 120
        while not all(runs_onnxruntime(pid) for pid in workers):
            assert time.monotonic() < deadline, "a worker had not loaded the models after 120 s"
            time.sleep(0.2)
        assert not runs_onnxruntime(server.process.pid)
    finally:
        stop_server(server)


def test_preloading_loads_the_models_in_the_master(server):
    """The default: the master loads the models before the fork, the workers inherit them."""
    assert runs_onnxruntime(server.process.pid)
    assert all(runs_onnxruntime(pid) for pid in server.worker_pids())
