"""Model versions rolled out without a restart, against a real Gunicorn with 2 workers under load.

For each worker class (sync, gthread, gevent): a new version is served within seconds with no
failed request, a corrupted version is refused while the served one keeps serving, and deleting
the served version falls back to the next highest.
"""

from __future__ import annotations

import json
import shutil
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import requests

from tests.conftest import (
    EXAMPLE,
    Server,
    start_server,
    stop_server,
    version_one_repository,
)
from tests.test_metrics import scrape, value

PIXELS = json.loads(EXAMPLE.read_text())["image_vector"]
INFER = {"inputs": [{"name": "pixels", "shape": [1, 784], "datatype": "UINT8", "data": PIXELS}]}
POLL_SECONDS = "0.5"
WAIT_SECONDS = 60  # a bound for a loaded 2-core machine; a rollout takes ~1 s here


class Load:
    """Two clients posting to /v2/models/mlp/infer until stopped (at most 90 s, 20,000 requests)."""

    def __init__(self, server: Server) -> None:
        self.url = server.url + "/v2/models/mlp/infer"
        self.versions: list[str] = []
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._deadline = time.monotonic() + 90
        self._threads = [threading.Thread(target=self._run, daemon=True) for _ in range(2)]
        for t in self._threads:
            t.start()

    def _run(self) -> None:
        with requests.Session() as session:
            while not self._stop.is_set() and time.monotonic() < self._deadline:
                with self._lock:
                    if len(self.versions) + len(self.failures) >= 20_000:
                        return
                try:
                    response = session.post(self.url, json=INFER, timeout=30)
                    outcome = response.json()["model_version"] if response.ok else None
                    error = None if response.ok else f"{response.status_code} {response.text[:200]}"
                except (requests.RequestException, ValueError, KeyError) as exc:
                    outcome, error = None, repr(exc)
                with self._lock:
                    if error is None:
                        self.versions.append(outcome)
                    else:
                        self.failures.append(error)

    def recent(self, n: int) -> set[str] | None:
        with self._lock:
            return set(self.versions[-n:]) if len(self.versions) >= n else None

    def wait_for(self, version: str, n: int = 40) -> None:
        """Until the last n answers (both workers' share) all come from `version`."""
        mark = len(self.versions)
        wait_until(
            lambda: len(self.versions) >= mark + n and self.recent(n) == {version},
            f"version {version} served",
        )

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(60)


def wait_until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {WAIT_SECONDS} s: {what}")
        time.sleep(0.1)


def publish(repo: Path, name: str, version: int, damage: bool = False) -> Path:
    """What an operator does: copy under a temporary name, then one rename into place."""
    staging = repo / name / f".tmp-{version}"
    shutil.copytree(repo / name / "1", staging)
    meta = json.loads((staging / "model.json").read_text())
    meta["version"] = version
    (staging / "model.json").write_text(json.dumps(meta))
    if damage:
        onnx = staging / f"{name}.onnx"
        blob = bytearray(onnx.read_bytes())
        blob[len(blob) // 2] ^= 0xFF
        onnx.write_bytes(bytes(blob))
    final = repo / name / str(version)
    staging.rename(final)
    return final


WORKER_ENV = {
    "sync": {"MNIST_SERVE_WORKER_CLASS": "sync"},
    "gthread": {"MNIST_SERVE_WORKER_CLASS": "gthread", "MNIST_SERVE_THREADS": "2"},
    "gevent": {"MNIST_SERVE_WORKER_CLASS": "gevent"},
}


@pytest.mark.parametrize("worker_class", list(WORKER_ENV))
def test_rollout_refusal_and_fallback_under_load(tmp_path, worker_class):
    if worker_class == "gevent":
        pytest.importorskip("gevent")  # a dev dependency: never skipped in CI
    repo = version_one_repository(tmp_path)
    log = tmp_path / "server.log"
    env = {
        "MNIST_SERVE_MODEL_POLL_SECONDS": POLL_SECONDS,
        "MNIST_SERVE_LOG_LEVEL": "info",
        **WORKER_ENV[worker_class],
    }
    server = start_server(env, model_dir=repo, output=log)
    load = Load(server)
    try:
        load.wait_for("1")
        publish(repo, "mlp", 2)
        load.wait_for("2")
        assert server.get("/v2/models/mlp").json()["versions"] == ["2"]
        assert server.get("/v2/models/mlp/versions/2/ready").status_code == 200
        parameters = server.get("/openapi.json").json()["components"]["parameters"]
        assert "2" in parameters["ModelVersion"]["schema"]["enum"]  # the document follows
        samples = scrape(server)
        assert value(samples, "mnist_serve_model_loaded", model="mlp", version="2") == 1
        assert value(samples, "mnist_serve_model_loaded", model="mlp", version="1") == 0
        assert value(samples, "mnist_serve_model_loaded", model="xgboost", version="1") == 1

        publish(repo, "mlp", 3, damage=True)
        wait_until(
            lambda: log.read_text().count("model mlp: refused version 3:") >= 2,
            "both workers refuse version 3",
        )
        (line,) = {
            line.split("] ", 3)[-1]
            for line in log.read_text().splitlines()
            if "refused version 3" in line
        }
        assert "mlp/3/mlp.onnx has sha256" in line and "model.json says" in line
        load.wait_for("2")  # still serving the good version
        assert server.get("/v2/models/mlp").json()["versions"] == ["2"]
        assert server.get("/v2/models/mlp/versions/3/ready").status_code == 404
        status = server.get("/v1/models/mlp/versions/3").json()["model_version_status"]
        assert status[0]["state"] == "END" and "sha256" in status[0]["status"]["error_message"]
        states = {
            s["version"]: s["state"]
            for s in server.get("/v1/models/mlp").json()["model_version_status"]
        }
        assert states == {"2": "AVAILABLE", "3": "END"}
        ready = server.get("/health/ready").json()
        assert [(r["name"], r["version"]) for r in ready["refused"]] == [("mlp", "3")]

        shutil.rmtree(repo / "mlp" / "3")
        shutil.rmtree(repo / "mlp" / "2")
        load.wait_for("1")  # the served version deleted: back to the next highest
        assert server.get("/v2/models/mlp").json()["versions"] == ["1"]
        assert server.get("/health/ready").json()["refused"] == []
    finally:
        load.stop()
        stop_server(server)
    assert load.failures == []
    assert len(load.versions) > 100
