"""The load-test command works end to end (a very short run); its numbers are not judged here."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from mnist_serve import loadtest
from tests.conftest import ROOT


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


@pytest.mark.parametrize("payload", ["json", "binary", "batch-json", "batch-binary"])
def test_payloads_are_what_the_server_accepts(payload, server):
    body, content_type = loadtest.payload_body(loadtest.LoadTestConfig(payload=payload, batch=3))
    response = server.post("/verify_vector_image", body, content_type)
    assert response.status_code == 200
    answer = response.json()
    answers = answer if isinstance(answer, list) else [answer]
    assert len(answers) == (3 if payload.startswith("batch") else 1)
    assert all(a["mlp"]["predicted_number"] == 5 for a in answers)


@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed")
def test_short_run_writes_report_and_plot(tmp_path):
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
def test_repeated_runs_report_the_median(tmp_path):
    out = tmp_path / "loadtest.json"
    result = run_cli(
        *("--targets", "floor", "--workers", "1", "--duration", "1", "--connections", "2"),
        *("--repeat", "3", "--out", str(out)),
    )
    assert result.returncode == 0, result.stderr
    (run,) = json.loads(out.read_text())["runs"]
    assert run["repeats"] == 3 and len(run["requests_per_second_all"]) == 3
    assert sorted(run["requests_per_second_all"])[1] == round(run["requests_per_second"], 1)
    assert result.stdout.count("round ") == 3


def test_repeat_must_be_positive(tmp_path):
    result = run_cli("--repeat", "0", "--out", str(tmp_path / "r.json"))
    assert result.returncode == 2
    assert "--repeat must be at least 1" in result.stderr


def test_median_run_keeps_the_middle_run():
    runs = [{"target": "t", "requests_per_second": v, "tag": v} for v in (30.0, 10.0, 20.0, 40.0)]
    chosen = loadtest.median_run(runs)
    assert chosen["tag"] == 20.0  # the lower middle of four
    assert chosen["requests_per_second_all"] == [30.0, 10.0, 20.0, 40.0]
    assert "repeats" not in loadtest.median_run(runs[:1])


def test_unknown_target_is_named(tmp_path):
    result = run_cli("--targets", "product,nope", "--out", str(tmp_path / "r.json"))
    assert result.returncode == 2
    assert "unknown targets ['nope']" in result.stderr


def test_metrics_cost_is_the_throughput_share_lost_to_metrics():
    runs = [
        {"target": "product", "workers": 2, "requests_per_second": 960.0},
        {"target": "product-no-metrics", "workers": 2, "requests_per_second": 1000.0},
    ]
    assert loadtest.ratios(runs) == [{"workers": 2, "metrics_cost": 0.04}]
    assert loadtest.TARGET_ENV["product-no-metrics"] == {"MNIST_SERVE_METRICS": "false"}
