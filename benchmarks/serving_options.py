"""Which worker class and count, and is nginx in front worth it? Measured, interleaved.

    .venv/bin/python -m benchmarks.serving_options [--rounds 3] [--duration 10]

For each option (worker class x count, keep-alive, nginx from deploy/nginx/ in front), on real
Gunicorns on loopback: throughput and p99 with wrk at 16 connections (example JSON), then a
normal client's p99 and failures while 200 connections trickle headers or bodies. Options run
in turn within each round, rounds repeated, and the median round (by req/s) is reported, so
the comparison holds on a shared machine. Writes benchmarks/results/serving_options.json and
a plot. Takes about rounds x options x (duration + slow_seconds + ~15 s).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from benchmarks.nginx_front import NginxFront
from mnist_serve import faults
from mnist_serve.loadtest import GunicornServer

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "results" / "serving_options.json"
CORES = os.cpu_count() or 1

# name -> (workers, MNIST_SERVE_* settings, nginx in front)
OPTIONS: dict[str, tuple[int, dict[str, str], bool]] = {
    "sync x5 (old default)": (5, {"MNIST_SERVE_WORKER_CLASS": "sync"}, False),
    f"sync x{CORES}": (CORES, {"MNIST_SERVE_WORKER_CLASS": "sync"}, False),
    **{
        f"gevent x{n}": (n, {"MNIST_SERVE_WORKER_CLASS": "gevent"}, False)
        for n in sorted({1, CORES, CORES + 1, 2 * CORES})
    },
    # The default with Gunicorn's own gevent worker instead of this project's corked one.
    f"gevent x{CORES} no TCP_CORK": (
        CORES,
        {"MNIST_SERVE_WORKER_CLASS": "gevent", "MNIST_SERVE_TCP_CORK": "false"},
        False,
    ),
    f"gevent x{CORES} keep-alive 5 s": (
        CORES,
        {"MNIST_SERVE_WORKER_CLASS": "gevent", "MNIST_SERVE_KEEPALIVE": "5"},
        False,
    ),
    f"nginx + sync x{CORES}": (CORES, {"MNIST_SERVE_WORKER_CLASS": "sync"}, True),
    f"nginx + gevent x{CORES}": (CORES, {"MNIST_SERVE_WORKER_CLASS": "gevent"}, True),
}


def measure(name: str, args: argparse.Namespace) -> dict[str, Any]:
    workers, env, nginx = OPTIONS[name]
    with ExitStack() as stack:
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="opt")))
        if nginx:
            sock = folder / "g.sock"
            env = {**env, "MNIST_SERVE_BIND": f"unix:{sock}"}
            front = stack.enter_context(NginxFront(folder, sock))
        server = GunicornServer(faults.PRODUCT, workers, 1, env)
        if nginx:
            server.url = front.url  # readiness and load go through nginx
        stack.enter_context(server)
        stack.callback(lambda: server.process.stderr.close())
        faults.wrk(server.url, args.connections, 2)
        result = faults.wrk(server.url, args.connections, args.duration)
        config = faults.FaultConfig(
            slow_clients=args.slow_clients,
            slow_seconds=args.slow_seconds,
            normal_requests=args.normal_requests,
        )
        slow = faults.slow_clients(config, url=server.url)
    return {
        "option": name,
        "workers": workers,
        "settings": env,
        "nginx": nginx,
        "requests_per_second": round(result["requests_per_second"], 1),
        "p50_ms": round(result["latency_ms"]["p50"], 2),
        "p99_ms": round(result["latency_ms"]["p99"], 2),
        "errors": sum(result["errors"].values()),
        "slow_clients": slow["slow_clients"],
        "normal_p99_ms_beside_slow_clients": slow["normal"]["p99_ms"],
        "normal_failed_beside_slow_clients": slow["normal"]["failed"],
        "normal_requests": slow["normal"]["requests"],
    }


def plot(report: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = report["options"]
    names = [r["option"] for r in rows]
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.5))
    axes[0].barh(names, [r["requests_per_second"] for r in rows])
    axes[0].set_xlabel("req/s (16 connections)")
    axes[1].barh(names, [r["p99_ms"] for r in rows], color="tab:orange")
    axes[1].set_xlabel("p99 ms (16 connections)")
    axes[2].barh(
        names,
        [r["normal_failed_beside_slow_clients"] / r["normal_requests"] * 100 for r in rows],
        color="tab:red",
    )
    axes[2].set_xlabel(f"normal requests failed beside {report['slow_clients']} slow clients (%)")
    for ax in axes[1:]:
        ax.set_yticklabels([])
    fig.suptitle(f"Serving options on {report['cpu_count']} cores (median of rounds)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (median kept)")
    parser.add_argument("--duration", type=float, default=10.0, help="wrk seconds per option")
    parser.add_argument("--connections", type=int, default=16, help="wrk connections")
    parser.add_argument("--slow-clients", type=int, default=200, help="slow connections")
    parser.add_argument("--slow-seconds", type=float, default=20.0, help="most seconds they last")
    parser.add_argument("--normal-requests", type=int, default=40, help="normal client requests")
    parser.add_argument(
        "--options", default=",".join(OPTIONS), help="comma-separated subset of the options"
    )
    parser.add_argument("--out", type=Path, default=OUT, help="results JSON (PNG beside it)")
    args = parser.parse_args()
    names = args.options.split(",")
    unknown = set(names) - set(OPTIONS)
    if unknown:
        parser.error(f"unknown options {sorted(unknown)}; known: {list(OPTIONS)}")
    started = time.monotonic()
    runs: dict[str, list[dict]] = {name: [] for name in names}
    for _ in range(args.rounds):
        for name in names:
            runs[name].append(measure(name, args))
            print(runs[name][-1], flush=True)
    rows = []
    for name in names:
        ordered = sorted(runs[name], key=lambda r: r["requests_per_second"])
        median = dict(ordered[len(ordered) // 2])
        median["rps_range"] = [
            ordered[0]["requests_per_second"],
            ordered[-1]["requests_per_second"],
        ]
        median["p99_range_ms"] = [
            min(r["p99_ms"] for r in ordered),
            max(r["p99_ms"] for r in ordered),
        ]
        rows.append(median)
    report = {
        "cpu_count": CORES,
        "rounds": args.rounds,
        "duration_s": args.duration,
        "connections": args.connections,
        "slow_clients": args.slow_clients,
        "wall_seconds": round(time.monotonic() - started),
        "options": rows,
        "runs": runs,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    plot(report, args.out.with_suffix(".png"))
    print(f"wrote {args.out} and {args.out.with_suffix('.png')}")


if __name__ == "__main__":
    main()
