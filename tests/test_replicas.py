"""Three replicas behind Debian's nginx (benchmarks/replicas.py), short and bounded.

Loopback only (127.0.0.2-4 and 127.0.0.1), at most 20,000 requests per run. The full-size run is
`python benchmarks/replicas.py`; this checks the same scenario: a replica SIGKILLed and brought
back, one restarted, a new model version rolled across all three one by one.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from benchmarks.replicas import NGINX, run

# No silent skip: CI installs nginx (.ci/run); a developer without it is told why.
pytestmark = pytest.mark.skipif(
    not Path(NGINX).is_file(), reason=f"{NGINX} missing: apt-get install nginx (.ci/run does)"
)


@pytest.fixture(scope="module")
def report() -> dict:
    return run(workers=1, clients=4, hold=0.5, max_requests=20_000)


def test_every_phase_carried_traffic(report):
    for r in report["runs"]:
        for name, phase in r["phases"].items():
            assert phase["requests"] > 0, (r["retry"], name)


def test_the_balancers_retry_absorbs_every_connection_error(report):
    [with_retry] = [r for r in report["runs"] if r["retry"]]
    phases = with_retry["phases"]
    for name in ("steady", "restart", "roll"):
        assert phases[name]["failed"] == 0, (name, phases[name])
    # Every request the killed replica refused or reset was resent (no 502). What no balancer
    # can resend is a response whose headers had already been passed on when the replica died:
    # at most one per request in flight at the kill.
    killed = phases["sigkill"]["failures"]
    assert set(killed) <= {"client_IncompleteRead"}, killed
    assert sum(killed.values()) <= report["config"]["clients"]


def test_without_retry_only_the_kill_costs_requests_and_nginx_answers_them(report):
    [without] = [r for r in report["runs"] if not r["retry"]]
    # Planned stops are drained first (out of the balancer, then SIGTERM): nothing lost.
    for name in ("steady", "restart", "roll"):
        assert without["phases"][name]["failed"] == 0, (name, without["phases"][name])
    # What the kill costs reaches the client as nginx's 502 (or, rarely, a response cut after
    # its headers); nginx itself never drops a client's connection.
    assert set(without["phases"]["sigkill"]["failures"]) <= {"http_502", "client_IncompleteRead"}


def test_new_version_on_every_replica_and_killed_one_replaced(report):
    for r in report["runs"]:
        new = r["new_version"]
        assert r["served_version_at_end"] == [{"mlp": new, "xgboost": new}] * 3
        # Replica 1: start, after the kill, in the roll; 2: start, restart, roll; 3: start, roll.
        assert r["replica_starts"] == [3, 3, 2]
        assert len(r["seconds_to_ready"]) == 8 and min(r["seconds_to_ready"]) > 0
