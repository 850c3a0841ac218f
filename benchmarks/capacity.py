"""One pod's capacity: requests/s, CPU cores used and memory of a server, for Kubernetes sizing.

    .venv/bin/python benchmarks/capacity.py [--workers 2] [--duration 30] [--connections 16]

Starts the product with the pod's worker count on a loopback port, drives it with wrk at
saturation for --duration seconds (after a warm-up) and samples, every 0.5 s, the CPU time and
memory of the master and every worker (/proc: utime+stime, RSS, PSS). Writes
`benchmarks/results/capacity.json` and a plot. From them:

- requests/s per core = requests/s / cores used: the figure the README's scaling arithmetic uses;
- the recommended container resources that deploy/kubernetes and deploy/kserve must carry
  (tests/test_deploy_kubernetes.py compares them): CPU request and limit = the workers' cores
  (single-threaded ONNX Runtime: a pod can use no more), memory request = peak PSS x 1.25,
  memory limit = peak RSS summed over processes (double-counts shared pages: an upper bound)
  x 1.5, each rounded up. `--apply` writes them (and the worker count) into the manifests.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import platform
import re
import threading
import time
from pathlib import Path

from mnist_serve.loadtest import (
    BodyFiles,
    GunicornServer,
    LoadTestConfig,
    _pss_kib,
    _rss_kib,
    request_bodies,
    run_wrk,
)

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "results" / "capacity.json"
TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """utime + stime of one process, in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def snapshot(server: GunicornServer) -> dict:
    pids = [server.process.pid, *server.worker_pids()]
    return {
        "t": time.monotonic(),
        "cpu_s": sum(cpu_seconds(p) for p in pids),
        "rss_mib": sum(_rss_kib(p) for p in pids) / 1024,
        "pss_mib": sum(_pss_kib(p) for p in pids) / 1024,
    }


def round_up(value: float, step: int) -> int:
    return int(math.ceil(value / step) * step)


def recommend(workers: int, peak_pss_mib: float, peak_rss_mib: float) -> dict:
    cpu = f"{workers * 1000}m"
    return {
        "workers": workers,
        "cpu_request": cpu,
        "cpu_limit": cpu,
        "memory_request": f"{round_up(peak_pss_mib * 1.25, 32)}Mi",
        "memory_limit": f"{round_up(peak_rss_mib * 1.5, 64)}Mi",
    }


MANIFESTS = [
    ROOT / "deploy" / "kubernetes" / "base" / "deployment.yaml",
    ROOT / "deploy" / "kserve" / "servingruntime.yaml",
]
RESOURCES = re.compile(
    r"(resources:\n\s+requests:\n\s+cpu: )\S+(\n\s+memory: )\S+"
    r"(\n\s+limits:\n\s+cpu: )\S+(\n\s+memory: )\S+"
)
WORKERS = re.compile(r"(- name: MNIST_SERVE_WORKERS\n\s+value: )\"\d+\"")


def apply(recommended: dict, manifests: list[Path] = MANIFESTS) -> None:
    """Write the recommended resources and worker count into the manifests (comments kept)."""
    r = recommended
    for path in manifests:
        text, n = RESOURCES.subn(
            lambda m: (
                f"{m[1]}{r['cpu_request']}{m[2]}{r['memory_request']}"
                f"{m[3]}{r['cpu_limit']}{m[4]}{r['memory_limit']}"
            ),
            path.read_text(),
        )
        text, w = WORKERS.subn(lambda m: f'{m[1]}"{r["workers"]}"', text)
        if (n, w) != (1, 1):
            raise SystemExit(f"{path}: expected one resources block and one MNIST_SERVE_WORKERS")
        path.write_text(text)
        print(f"updated {path}")


def measure(
    workers: int, duration: float, connections: int, warmup: float, data_dir: Path | None = None
) -> dict:
    config = LoadTestConfig(connections=connections, duration=duration, data_dir=data_dir)
    bodies, ctype = request_bodies(config)
    with BodyFiles(bodies) as body, GunicornServer("mnist_serve.wsgi:app", workers, 1) as server:
        url = server.url + config.endpoint
        idle = snapshot(server)
        run_wrk(url, body, ctype, config, warmup)
        samples: list[dict] = []
        done = threading.Event()

        def sample() -> None:
            while not done.is_set():
                samples.append(snapshot(server))
                done.wait(0.5)

        sampler = threading.Thread(target=sample)
        sampler.start()
        try:
            result = run_wrk(url, body, ctype, config, duration)
        finally:
            done.set()
            sampler.join()
    first, last = samples[0], samples[-1]
    cores = (last["cpu_s"] - first["cpu_s"]) / (last["t"] - first["t"])
    peak_pss = max(s["pss_mib"] for s in samples)
    peak_rss = max(s["rss_mib"] for s in samples)
    return {
        "config": {
            "workers": workers,
            "duration_s": duration,
            "warmup_s": warmup,
            "connections": connections,
            "endpoint": config.endpoint,
            "payload": config.payload,
        },
        "machine": {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count()},
        "requests_per_second": round(result["requests_per_second"], 1),
        "latency_ms": result["latency_ms"],
        "errors": result["errors"],
        "cpu_cores_used": round(cores, 3),
        "requests_per_second_per_core": round(result["requests_per_second"] / cores, 1),
        "memory_mib": {
            "idle_pss": round(idle["pss_mib"], 1),
            "idle_rss_sum": round(idle["rss_mib"], 1),
            "peak_pss": round(peak_pss, 1),
            "peak_rss_sum": round(peak_rss, 1),
        },
        "recommended": recommend(workers, peak_pss, peak_rss),
        "samples": [
            {
                "t": round(s["t"] - first["t"], 2),
                "cores": round((s["cpu_s"] - p["cpu_s"]) / max(s["t"] - p["t"], 1e-6), 3),
                "pss_mib": round(s["pss_mib"], 1),
                "rss_mib": round(s["rss_mib"], 1),
            }
            for p, s in itertools.pairwise(samples)
        ],
    }


def plot(report: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = [s["t"] for s in report["samples"]]
    fig, (cpu, mem) = plt.subplots(2, 1, figsize=(8, 6), sharex=True)
    cpu.plot(t, [s["cores"] for s in report["samples"]])
    cpu.set_ylabel("CPU cores used")
    cpu.set_title(
        f"{report['config']['workers']} workers at saturation: "
        f"{report['requests_per_second']:,.0f} req/s, "
        f"{report['requests_per_second_per_core']:,.0f} req/s per core"
    )
    mem.plot(t, [s["pss_mib"] for s in report["samples"]], label="PSS (all processes)")
    mem.plot(t, [s["rss_mib"] for s in report["samples"]], label="RSS summed")
    mem.set_ylabel("MiB")
    mem.set_xlabel("seconds under load")
    mem.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workers", type=int, default=2, help="Gunicorn workers (the pod's)")
    parser.add_argument("--duration", type=float, default=30, help="seconds of measured load")
    parser.add_argument("--warmup", type=float, default=3, help="seconds of load before it")
    parser.add_argument("--connections", type=int, default=16, help="wrk connections")
    parser.add_argument(
        "--data-dir",
        type=Path,
        help="MNIST IDX files; requests rotate over its test images (default: the download)",
    )
    parser.add_argument("--out", type=Path, default=OUT, help="results file (JSON; PNG beside)")
    parser.add_argument(
        "--apply",
        action="store_true",
        help="also write the recommended resources into deploy/kubernetes and deploy/kserve",
    )
    args = parser.parse_args(argv)
    report = measure(args.workers, args.duration, args.connections, args.warmup, args.data_dir)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    plot(report, args.out.with_suffix(".png"))
    if args.apply:
        apply(report["recommended"])
    print(
        json.dumps(
            {
                k: report[k]
                for k in (
                    "requests_per_second",
                    "cpu_cores_used",
                    "requests_per_second_per_core",
                    "memory_mib",
                    "recommended",
                )
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
