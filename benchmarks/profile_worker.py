"""Where a worker's time goes under load: py-spy samples one Gunicorn worker while wrk drives it.

    .venv/bin/python benchmarks/profile_worker.py        # needs wrk and py-spy (dev extra)

Writes `benchmarks/results/profile.json` (the share of samples spent in each stage of a request;
a sample counts for the first stage, in the order below, whose frame is on its stack) and a bar
plot beside it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
from collections import Counter
from pathlib import Path

from mnist_serve.loadtest import (
    BodyFiles,
    GunicornServer,
    LoadTestConfig,
    request_bodies,
    run_wrk,
)

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "results" / "profile.json"

# Stage name -> a substring of the py-spy frame that marks it (first match wins, in this order).
STAGES = {
    "ONNX Runtime (both models)": "Session.run",
    "request parsing and validation": "images_from_request",
    "answer building and JSON encoding": "seed_answers",
    "Gunicorn: reading and parsing HTTP": "Parser.__next__",
    "Gunicorn: writing the response (loopback TCP send)": "Response.write",
    "Gunicorn: closing the connection": "close_graceful",
    "Gunicorn: waiting for a connection": "SyncWorker.wait",
    "Flask request/response machinery": "Flask.wsgi_app",
}


def main() -> None:
    """Usage: profile_worker.py [MNIST_DATA_DIR]; requests rotate over its test images. The
    profile is of one sync worker, the worker class the committed results were taken with."""
    data_dir = Path(sys.argv[1]) if len(sys.argv) > 1 else None
    config = LoadTestConfig(connections=16, duration=12, data_dir=data_dir)
    bodies, content_type = request_bodies(config)
    sync = {"MNIST_SERVE_WORKER_CLASS": "sync"}
    with (
        BodyFiles(bodies) as body,
        GunicornServer("mnist_serve.wsgi:app", workers=1, threads=1, env=sync) as server,
    ):
        url = server.url + config.endpoint
        run_wrk(url, body, content_type, config, 2)
        worker = server.worker_pids()[0]
        load = threading.Thread(target=run_wrk, args=(url, body, content_type, config, 12))
        load.start()
        with tempfile.NamedTemporaryFile(suffix=".txt") as raw:
            subprocess.run(
                [
                    str(Path(sys.executable).with_name("py-spy")),
                    "record",
                    "--pid",
                    str(worker),
                    "--duration",
                    "8",
                    "--rate",
                    "1000",
                    "--format",
                    "raw",
                    "-o",
                    raw.name,
                ],
                check=True,
                capture_output=True,
                env={**os.environ},
            )
            stacks = Path(raw.name).read_text().splitlines()
        load.join()
    totals: Counter[str] = Counter()
    samples = 0
    for line in stacks:
        stack, count = line.rsplit(" ", 1)
        samples += int(count)
        stage = next((name for name, mark in STAGES.items() if mark in stack), "other")
        totals[stage] += int(count)
    shares = {name: round(totals[name] / samples, 3) for name in [*STAGES, "other"]}
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(
        json.dumps({"samples": samples, "share_of_worker_samples": shares}, indent=2) + "\n"
    )
    plot(shares, samples, OUT.with_suffix(".png"))
    for name, share in sorted(shares.items(), key=lambda kv: -kv[1]):
        print(f"{share:6.1%}  {name}")
    print(f"wrote {OUT}")


def plot(shares: dict[str, float], samples: int, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    items = sorted(shares.items(), key=lambda kv: kv[1])
    fig, ax = plt.subplots(figsize=(8, 3.8))
    bars = ax.barh([k for k, _ in items], [v * 100 for _, v in items], color="C0")
    ax.bar_label(bars, fmt="%.1f%%", fontsize=8)
    ax.set_xlabel("% of one worker's samples under load (py-spy)")
    ax.set_title(f"Where a worker's time goes ({samples} samples, JSON requests, 16 connections)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


if __name__ == "__main__":
    main()
