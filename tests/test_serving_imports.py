"""Workers run ONNX Runtime only: neither TensorFlow nor XGBoost is ever loaded to serve."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

FORBIDDEN = ("tensorflow", "xgboost", "keras")


def test_gunicorn_workers_have_no_tensorflow_or_xgboost_mapped(server, example):
    assert server.post("/verify_vector_image", __import__("json").dumps(example)).ok
    pids = server.worker_pids()
    assert pids, "no gunicorn workers found"
    for pid in [server.process.pid, *pids]:
        maps = Path(f"/proc/{pid}/maps").read_text()
        assert "onnxruntime" in maps or pid == server.process.pid
        for name in FORBIDDEN:
            assert f"/{name}" not in maps, f"process {pid} has {name} loaded"


def test_importing_the_app_imports_no_training_library():
    code = (
        "import sys, mnist_serve.wsgi, mnist_serve.cli, mnist_serve.bench; "
        f"loaded = [m for m in {FORBIDDEN!r} if m in sys.modules]; "
        "print(loaded); sys.exit(1 if loaded else 0)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr
