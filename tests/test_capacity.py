"""benchmarks/capacity.py at small size: it measures, recommends, and writes the manifests."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import yaml
from benchmarks import capacity

from tests.conftest import SHARED_MNIST


def test_measures_and_recommends_enough_memory(tmp_path):
    out = tmp_path / "capacity.json"
    capacity.main(
        [
            "--workers",
            "1",
            "--duration",
            "2",
            "--warmup",
            "0.5",
            "--out",
            str(out),
            "--data-dir",
            str(SHARED_MNIST),
        ]
    )
    report = json.loads(out.read_text())
    assert report["requests_per_second"] > 0 and report["cpu_cores_used"] > 0
    assert sum(report["errors"].values()) == 0
    assert out.with_suffix(".png").stat().st_size > 0
    rec = report["recommended"]
    assert rec["workers"] == 1 and rec["cpu_request"] == rec["cpu_limit"] == "1000m"
    assert int(rec["memory_request"].removesuffix("Mi")) >= report["memory_mib"]["peak_pss"]
    assert int(rec["memory_limit"].removesuffix("Mi")) >= report["memory_mib"]["peak_rss_sum"]


def test_apply_rewrites_resources_and_workers_only(tmp_path):
    copies = [Path(shutil.copy(p, tmp_path / p.name)) for p in capacity.MANIFESTS]
    before = [p.read_text() for p in copies]
    rec = {
        "workers": 3,
        "cpu_request": "2999m",
        "cpu_limit": "3001m",
        # Values no real run writes, so each of them is a change whatever the manifests hold.
        "memory_request": "223Mi",
        "memory_limit": "641Mi",
    }
    capacity.apply(rec, copies)
    for path, old in zip(copies, before, strict=True):
        doc = yaml.safe_load(path.read_text())
        spec = doc["spec"].get("template", {}).get("spec", doc["spec"])
        [container] = spec["containers"]
        assert container["resources"] == {
            "requests": {"cpu": "2999m", "memory": "223Mi"},
            "limits": {"cpu": "3001m", "memory": "641Mi"},
        }
        env = {e["name"]: e["value"] for e in container["env"]}
        assert env["MNIST_SERVE_WORKERS"] == "3"
        # Comments and everything else kept: only the six values differ.
        changed = [
            a
            for a, b in zip(old.splitlines(), path.read_text().splitlines(), strict=True)
            if a != b
        ]
        assert len(changed) == 5
