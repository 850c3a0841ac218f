"""Prometheus metrics against a real Gunicorn with 2 workers: exact sums, recycling, switched off."""

from __future__ import annotations

import json
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from mnist_serve import metrics
from tests.conftest import EXAMPLE, ROOT, Server, served_version, start_server, stop_server

GOOD = EXAMPLE.read_bytes()
BAD = json.dumps({"image_vector": [0] * 783}).encode()
ENDPOINT = "/verify_vector_image"
PROMTOOL = Path("/usr/bin/promtool")


def scrape(server: Server) -> dict[tuple[str, tuple], float]:
    """Every sample as {(name, sorted labels): value}."""
    response = server.get("/metrics")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(response.text)
        for s in family.samples
    }


def value(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def send(server: Server, bodies: list[bytes]) -> list[int]:
    """Concurrently, so both workers take a share."""

    def post(body: bytes) -> int:
        return requests.post(
            server.url + ENDPOINT,
            data=body,
            headers={"Content-Type": "application/json"},
            timeout=30,
        ).status_code

    with ThreadPoolExecutor(8) as pool:
        return list(pool.map(post, bodies))


@pytest.fixture(scope="module")
def tmpdir_env(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("server-tmp")


@pytest.fixture(scope="module")
def metered(tmpdir_env) -> Server:
    server = start_server({"TMPDIR": str(tmpdir_env)})
    yield server
    stop_server(server)


def db_files(tmpdir_env: Path) -> list[Path]:
    (directory,) = tmpdir_env.glob("mnist-serve-metrics-*")
    return sorted(directory.glob("*.db"))


def test_counts_are_exact_summed_over_the_workers(metered, tmpdir_env):
    before = scrape(metered)
    statuses = send(metered, [GOOD] * 100 + [BAD] * 10)
    assert statuses.count(200) == 100 and statuses.count(400) == 10
    after = scrape(metered)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    requests_total = "mnist_serve_requests_total"
    assert delta(requests_total, endpoint=ENDPOINT, method="POST", status="200") == 100
    assert delta(requests_total, endpoint=ENDPOINT, method="POST", status="400") == 10
    for model in ("mlp", "xgboost"):
        assert (
            delta("mnist_serve_inference_images_total", model=model, version=served_version(model))
            == 100
        )
        assert delta("mnist_serve_inference_duration_seconds_count", model=model) == 100
    assert delta("mnist_serve_request_duration_seconds_count", endpoint=ENDPOINT) == 110
    assert delta("mnist_serve_request_duration_seconds_bucket", endpoint=ENDPOINT, le="10.0") == 110
    # Both workers wrote their own files: the sums above really are over processes.
    worker_files = {p.name for p in db_files(tmpdir_env) if p.name.startswith("counter_")}
    assert {f"counter_{pid}.db" for pid in metered.worker_pids()} <= worker_files
    assert len(metered.worker_pids()) == 2


def test_unrouted_paths_share_one_label_and_loaded_models_are_1(metered):
    metered.get("/no/such/path/1")
    metered.get("/no/such/path/2")
    samples = scrape(metered)
    endpoints = {
        dict(labels).get("endpoint") for name, labels in samples if "endpoint" in dict(labels)
    }
    assert "unrouted" in endpoints
    assert not any(e.startswith("/no/such") for e in endpoints)
    for model in ("mlp", "xgboost", "ensemble"):
        assert (
            value(samples, "mnist_serve_model_loaded", model=model, version=served_version(model))
            == 1
        )
    # The client library's process metrics, for the whole server (master + workers).
    assert value(samples, "process_resident_memory_bytes") > 0
    assert value(samples, "process_cpu_seconds_total") > 0


def test_route_rules_label_the_peer_protocols(metered):
    pixels = json.loads(GOOD)["image_vector"]
    body = {"inputs": [{"name": "pixels", "shape": [1, 784], "datatype": "UINT8", "data": pixels}]}
    assert requests.post(metered.url + "/v2/models/mlp/infer", json=body, timeout=30).ok
    samples = scrape(metered)
    assert (
        value(
            samples,
            "mnist_serve_requests_total",
            endpoint="/v2/models/<model_name>/infer",
            method="POST",
            status="200",
        )
        >= 1
    )
    assert (
        value(
            samples,
            "mnist_serve_inference_images_total",
            model="mlp",
            version=served_version("mlp"),
        )
        >= 1
    )


def test_recycled_workers_keep_their_counts_and_leave_no_files(tmp_path):
    server = start_server(
        {
            "TMPDIR": str(tmp_path),
            "GUNICORN_CMD_ARGS": "--max-requests 15 --max-requests-jitter 0",
        }
    )
    try:
        first = set(server.worker_pids())
        statuses = send(server, [GOOD] * 100)
        assert statuses == [200] * 100
        # At least one worker was recycled (a gevent worker leaves once its last request is out).
        deadline = time.monotonic() + 30
        while first == set(server.worker_pids()) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert first != set(server.worker_pids())
        samples = scrape(server)
        assert (
            value(
                samples,
                "mnist_serve_requests_total",
                endpoint=ENDPOINT,
                method="POST",
                status="200",
            )
            == 100
        )
        assert (
            value(
                samples,
                "mnist_serve_inference_images_total",
                model="mlp",
                version=served_version("mlp"),
            )
            == 100
        )
        # Dead workers' counts sit in one archive file per type, not one file per pid (the
        # master folds a worker's files when it reaps it: wait for the last one, bounded).
        deadline = time.monotonic() + 20
        while True:
            names = [p.name for p in db_files(tmp_path)]
            live = {str(pid) for pid in server.worker_pids()} | {"archive"}
            if all(n.rsplit("_", 1)[-1][:-3] in live for n in names) or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert all(n.rsplit("_", 1)[-1][:-3] in live for n in names), names
        assert "counter_archive.db" in names and "histogram_archive.db" in names
    finally:
        stop_server(server)
    assert list(tmp_path.glob("mnist-serve-metrics-*")) == []  # removed at exit


def test_metrics_switched_off(tmp_path):
    server = start_server({"TMPDIR": str(tmp_path), "MNIST_SERVE_METRICS": "false"})
    try:
        assert server.get("/metrics").status_code == 404
        assert send(server, [GOOD]) == [200]
        assert list(tmp_path.glob("mnist-serve-metrics-*")) == []
    finally:
        stop_server(server)


def test_worker_exit_folds_counts_into_the_archive(tmp_path, monkeypatch):
    """The fold itself, on files written by prometheus_client's own storage."""
    from prometheus_client.mmap_dict import MmapedDict, mmap_key

    monkeypatch.setenv(metrics.ENV_DIR, str(tmp_path))
    key = mmap_key("c", "c_total", ["a"], ["x"], "help")
    for pid, amount in ((101, 2.0), (102, 3.0)):
        f = MmapedDict(str(tmp_path / f"counter_{pid}.db"))
        f.write_value(key, amount, 0.0)
        f.close()
    (tmp_path / "gauge_livemax_101.db").write_bytes(b"")
    metrics.worker_exited(101)
    metrics.worker_exited(102)
    assert sorted(p.name for p in tmp_path.glob("*.db")) == ["counter_archive.db"]
    values = MmapedDict.read_all_values_from_file(str(tmp_path / "counter_archive.db"))
    assert [(k, v) for k, v, _, _ in values] == [(key, 5.0)]


@pytest.mark.skipif(not PROMTOOL.exists(), reason="promtool missing: .ci/run installs prometheus")
def test_alert_rules_and_scrape_example_pass_promtool():
    rules = ROOT / "deploy" / "prometheus" / "alerts.yml"
    config = ROOT / "deploy" / "prometheus" / "prometheus.yml"
    result = subprocess.run(
        [str(PROMTOOL), "check", "rules", str(rules)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr
    result = subprocess.run(
        [str(PROMTOOL), "check", "config", "--syntax-only", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    text = rules.read_text()
    for name in (
        "mnist_serve_requests_total",
        "mnist_serve_request_duration_seconds_bucket",
        "mnist_serve_model_loaded",
    ):
        assert name in text


@pytest.mark.skipif(not PROMTOOL.exists(), reason="promtool missing: .ci/run installs prometheus")
def test_promtool_unit_tests_for_the_alerts():
    """The alerts fire on the series the server exports (promtool test rules)."""
    tests = ROOT / "deploy" / "prometheus" / "alerts_test.yml"
    result = subprocess.run(
        [str(PROMTOOL), "test", "rules", str(tests)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr
