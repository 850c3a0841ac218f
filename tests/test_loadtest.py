"""The load-test command works end to end (a very short run); its numbers are not judged here."""

from __future__ import annotations

import itertools
import json
import os
import shutil
import subprocess
import sys

import pytest

from mnist_serve import loadtest
from mnist_serve.data import load_from_dir
from tests.conftest import ROOT
from tests.test_data import write_mnist_dir


def run_cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "mnist_serve.cli", "loadtest", *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
        env=env,
    )


def test_missing_wrk_is_reported_clearly(tmp_path):
    env = {**os.environ, "PATH": str(tmp_path)}  # no wrk on this PATH
    result = run_cli("--out", str(tmp_path / "r.json"), env=env)
    assert result.returncode == 2
    assert "wrk is not installed" in result.stderr
    assert "apt-get install wrk" in result.stderr


@pytest.fixture(scope="module")
def mnist_dir(tmp_path_factory):
    """Small synthetic MNIST files: the bodies are built from whatever data the user names."""
    directory = tmp_path_factory.mktemp("mnist")
    write_mnist_dir(directory, n_train=20, n_test=50)
    return directory


@pytest.mark.parametrize("payload", ["json", "binary", "batch-json", "batch-binary"])
def test_bodies_rotate_distinct_test_images_the_server_accepts(payload, server, mnist_dir):
    config = loadtest.LoadTestConfig(payload=payload, batch=3, images=4, data_dir=mnist_dir)
    x_test = load_from_dir(mnist_dir).x_test.reshape(50, 784)
    bodies, content_type = loadtest.request_bodies(config)
    assert len(bodies) == 4 and len(set(bodies)) == 4
    per_body = 3 if payload.startswith("batch") else 1
    for b, body in enumerate(bodies):
        response = server.post("/verify_vector_image", body, content_type)
        assert response.status_code == 200
        answer = response.json()
        answers = answer if isinstance(answer, list) else [answer]
        assert len(answers) == per_body
        # Each body holds the next test images in order, so every target sees the same ones.
        first = x_test[b * per_body]
        sent = (
            body[:784]
            if payload.endswith("binary")
            else bytes(json.loads(body).get("image_vector") or json.loads(body)["image_vectors"][0])
        )
        assert sent == first.tobytes()


def test_bodies_survive_the_trip_through_files(mnist_dir):
    config = loadtest.LoadTestConfig(images=7, data_dir=mnist_dir)
    bodies, _ = loadtest.request_bodies(config)
    with loadtest.BodyFiles(bodies) as files:
        assert loadtest.read_bodies(files.data, files.index) == bodies


def test_floor_answers_what_the_product_answers(server, mnist_dir):
    """The floor's fixed answer is the product's own answer to the first body, byte for byte."""
    config = loadtest.LoadTestConfig(images=1, data_dir=mnist_dir)
    (body,), ctype = loadtest.request_bodies(config)
    product = server.post("/verify_vector_image", body, ctype)
    assert loadtest.product_answer(body, ctype) == product.content


@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed")
def test_short_run_writes_report_and_plot(tmp_path, mnist_dir):
    out = tmp_path / "loadtest.json"
    result = run_cli(
        "--targets",
        "product,floor,floor+models",
        "--workers",
        "1",
        "--duration",
        "1",
        "--connections",
        "4",
        "--out",
        str(out),
        "--images",
        "20",
        "--data-dir",
        str(mnist_dir),
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(out.read_text())
    assert [r["target"] for r in report["runs"]] == ["product", "floor", "floor+models"]
    for run in report["runs"]:
        assert run["requests"] > 0
        assert run["errors"]["non_2xx"] == 0
        assert run["latency_ms"]["p50"] <= run["latency_ms"]["p99"] <= run["latency_ms"]["max"]
        assert run["memory"]["workers"] == 1
    ratios = report["ratios"][0]
    assert ratios["product_over_floor"] > 0
    assert ratios["product_over_floor_plus_models"] > 0
    assert ratios["floor_plus_models_over_floor"] > 0
    assert out.with_suffix(".png").read_bytes()[:4] == b"\x89PNG"
    assert "product/floor" in result.stdout
    assert "(floor+models)/floor" in result.stdout


@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed")
def test_repeated_runs_report_the_median(tmp_path, mnist_dir):
    out = tmp_path / "loadtest.json"
    result = run_cli(
        *("--targets", "floor", "--workers", "1", "--duration", "1", "--connections", "2"),
        *("--repeat", "3", "--out", str(out), "--images", "5", "--data-dir", str(mnist_dir)),
    )
    assert result.returncode == 0, result.stderr
    (run,) = json.loads(out.read_text())["runs"]
    assert run["repeats"] == 3 and len(run["requests_per_second_all"]) == 3
    assert len(run["errors_all"]) == 3 and run["errors"] in run["errors_all"]
    assert all(errors["timeout"] == 0 for errors in run["errors_all"])
    assert sorted(run["requests_per_second_all"])[1] == round(run["requests_per_second"], 1)
    assert result.stdout.count("round ") == 3


def test_repeat_must_be_positive(tmp_path):
    result = run_cli("--repeat", "0", "--out", str(tmp_path / "r.json"))
    assert result.returncode == 2
    assert "--repeat must be at least 1" in result.stderr


def test_median_run_keeps_the_middle_run():
    runs = [
        {"target": "t", "requests_per_second": v, "tag": v, "errors": {"timeout": int(v)}}
        for v in (30.0, 10.0, 20.0, 40.0)
    ]
    chosen = loadtest.median_run(runs)
    assert chosen["tag"] == 20.0  # the lower middle of four
    assert chosen["requests_per_second_all"] == [30.0, 10.0, 20.0, 40.0]
    assert "repeats" not in loadtest.median_run(runs[:1])


def test_unknown_target_is_named(tmp_path):
    result = run_cli("--targets", "product,nope", "--out", str(tmp_path / "r.json"))
    assert result.returncode == 2
    assert "unknown targets ['nope']" in result.stderr


@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed")
def test_wrk_sends_every_body_in_turn():
    """The wrk script rotates the bodies: a loopback server records what arrives."""
    import http.server
    import threading

    seen: list[bytes] = []

    class Recorder(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self):
            seen.append(self.rfile.read(int(self.headers["Content-Length"])))
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    bodies = [f'{{"image": {i}}}'.encode() for i in range(5)]
    config = loadtest.LoadTestConfig(connections=1, wrk_threads=1)
    try:
        with loadtest.BodyFiles(bodies) as files:
            url = f"http://127.0.0.1:{httpd.server_address[1]}/"
            result = loadtest.run_wrk(url, files, "application/json", config, 1)
    finally:
        httpd.shutdown()
    assert result["requests"] >= 10
    assert set(seen[:5]) == set(bodies)  # every body, each in turn
    order = [bodies.index(b) for b in seen[:10]]
    assert all((b - a) % 5 == 1 for a, b in itertools.pairwise(order))
    httpd.server_close()


def test_metrics_cost_is_the_throughput_share_lost_to_metrics():
    runs = [
        {"target": "product", "workers": 2, "requests_per_second": 960.0},
        {"target": "product-no-metrics", "workers": 2, "requests_per_second": 1000.0},
    ]
    assert loadtest.ratios(runs) == [{"workers": 2, "metrics_cost": 0.04}]
    assert loadtest.TARGET_ENV["product-no-metrics"] == {"MNIST_SERVE_METRICS": "false"}


def test_a_seed_style_only_report_plots_its_latency(tmp_path):
    """seed-style is left out of the latency panel beside the others (its seconds would flatten
    their milliseconds), but alone it is what the panel shows, with a legend and no warning."""
    import warnings

    run = {
        "target": "seed-style",
        "workers": 2,
        "requests_per_second": 12.5,
        "latency_ms": {"p50": 1167.8, "p99": 2059.8},
    }
    report = {
        "config": {"payload": "json", "connections": 16},
        "machine": {"cores": 2, "cpu": "test"},
        "runs": [run],
    }
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # matplotlib warns when a legend has nothing to show
        loadtest.plot(report, tmp_path / "seed.png")
    assert (tmp_path / "seed.png").read_bytes()[:4] == b"\x89PNG"
