"""Preload or load per worker? Memory and time to ready of both, measured on real Gunicorns.

    .venv/bin/python benchmarks/preload_memory.py [--workers 4]

Starts the product twice (MNIST_SERVE_PRELOAD false, then true) with the same settings,
checks 200 answers from each, and records the total proportional set size (PSS: shared pages
split between the processes sharing them), RSS per worker and seconds to ready. Writes
`benchmarks/results/preload.json` and a plot.
"""

from __future__ import annotations

import argparse
import json
import os
import urllib.request
from pathlib import Path

from mnist_serve.loadtest import GunicornServer, _pss_kib, _rss_kib

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "results" / "preload.json"


def measure(preload: bool, workers: int) -> dict:
    os.environ["MNIST_SERVE_PRELOAD"] = "true" if preload else "false"
    body = (ROOT / "examples" / "mnist_image_example.json").read_bytes()
    with GunicornServer("mnist_serve.wsgi:app", workers, 1) as server:
        correct = 0
        for _ in range(200):
            request = urllib.request.Request(
                server.url + "/verify_vector_image",
                data=body,
                headers={"Content-Type": "application/json"},
            )
            with urllib.request.urlopen(request, timeout=10) as response:
                correct += json.loads(response.read())["xgboost"]["predicted_number"] == 5
        pids = server.worker_pids()
        return {
            "preload": preload,
            "workers": len(pids),
            "correct_answers_of_200": correct,
            "seconds_to_ready": round(server.seconds_to_ready, 2),
            "total_pss_mib": round(
                (sum(_pss_kib(p) for p in pids) + _pss_kib(server.process.pid)) / 1024, 1
            ),
            "rss_mib_per_worker": round(sum(_rss_kib(p) for p in pids) / len(pids) / 1024, 1),
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workers", type=int, default=4)
    args = parser.parse_args()
    rows = [measure(preload, args.workers) for preload in (False, True)]
    for row in rows:
        print(row)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps({"runs": rows}, indent=2) + "\n")

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(8, 3.2))
    labels = ["per worker" if not r["preload"] else "preload" for r in rows]
    left.bar(labels, [r["total_pss_mib"] for r in rows], color=["C1", "C0"])
    left.set_ylabel(f"total PSS, MiB ({args.workers} workers)")
    right.bar(labels, [r["seconds_to_ready"] for r in rows], color=["C1", "C0"])
    right.set_ylabel("seconds from start to ready")
    fig.suptitle("Loading the models before or after the fork")
    fig.tight_layout()
    fig.savefig(OUT.with_suffix(".png"), dpi=100)
    plt.close(fig)
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
