"""Faults at small size against a real Gunicorn on loopback: the same scenarios as
`mnist-serve faults` (which runs them at full size for the README)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from mnist_serve import faults
from tests.conftest import ROOT

SMALL = faults.FaultConfig(
    workers=2,
    connections=4,
    duration=4.0,
    soak=6.0,
    slow_clients=40,
    slow_seconds=15.0,
    normal_requests=20,
    in_flight=4,
)


def test_a_worker_killed_under_load_costs_almost_nothing():
    result = faults.sigkill_worker(SMALL)
    assert result["requests"] > 0
    # The killed worker's request in flight may fail (one per connection it held at most).
    assert result["failed"] <= SMALL.connections
    assert result["workers_after"] == SMALL.workers


def test_reloads_under_load_lose_nothing():
    result = faults.sighup(SMALL)
    assert result["requests"] > 0
    assert result["failed"] == 0, result["errors"]
    # Replaced workers leave by themselves (gevent ones once hung at exit until killed).
    assert (result["workers_after"], result["old_workers_left"]) == (SMALL.workers, 0)


def test_sigterm_lets_requests_in_flight_finish():
    result = faults.sigterm(SMALL)
    assert result["in_flight_answered_200"] == result["in_flight"] == SMALL.in_flight
    assert result["exit_code"] == 0


def test_a_short_soak_has_no_errors_and_keeps_its_workers():
    result = faults.soak(SMALL)
    assert result["failed"] == 0, result["errors"]
    assert result["same_workers"]
    assert result["rss_growth_percent"] < 10


def test_slow_clients_do_not_starve_the_default_server():
    result = faults.slow_clients(SMALL)
    assert result["slow_clients"] == SMALL.slow_clients
    assert result["normal"]["failed"] == 0


def test_slow_clients_do_starve_bare_sync_workers():
    """Why the default is not sync: the same scenario fails there (each request: 5 s timeout)."""
    config = faults.FaultConfig(
        workers=2,
        slow_clients=40,
        slow_seconds=15.0,
        normal_requests=2,
        env={"MNIST_SERVE_WORKER_CLASS": "sync"},
    )
    result = faults.slow_clients(config)
    assert result["normal"]["failed"] > 0


def test_the_server_comes_back_after_every_worker_is_killed():
    result = faults.kill_all(SMALL)
    assert result["recovered"]
    assert result["workers_after"] == SMALL.workers


@pytest.mark.parametrize("scenarios", ["kill_all,sighup"])
def test_faults_command_writes_json_and_plot(tmp_path, scenarios):
    out = tmp_path / "faults.json"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mnist_serve.cli",
            "faults",
            "--scenarios",
            scenarios,
            "--duration",
            "3",
            "--connections",
            "4",
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(out.read_text())
    assert set(report["scenarios"]) == set(scenarios.split(","))
    assert report["verdicts"] == {"kill_all": True, "sighup": True}
    assert out.with_suffix(".png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_faults_command_refuses_unknown_scenarios(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "mnist_serve.cli", "faults", "--scenarios", "meteor"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert result.returncode == 2
    assert "meteor" in result.stderr and "sigkill" in result.stderr
