"""`mnist-serve loadtest`: drive real Gunicorn servers with wrk and compare against baselines.

Requests rotate through distinct MNIST test images (`--images` bodies, built at run time from
the MNIST data given by `--data-dir`, else the verified download): one image sent over and over
lets the CPU learn the trees' paths and flatters XGBoost. Every target gets the same bodies in
the same order.

Each target (the product, the no-op Flask floor, the floor plus the two models, the seed-style
TensorFlow path) runs under the same Gunicorn settings on a free loopback port, one after
another, so the results are ratios that hold on any machine. Results go to a JSON file and a
PNG plot.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mnist_serve.config import PROJECT_ROOT, default_workers

# The baseline apps and the wrk script live in the source checkout's benchmarks/ (run from it).
BENCHMARKS = PROJECT_ROOT / "benchmarks"
WRK_SCRIPT = BENCHMARKS / "wrk_post.lua"
TARGETS = {
    "product": "mnist_serve.wsgi:app",
    "floor": "benchmarks.floor_app:app",
    # The floor that also runs both models: what the models alone cost under load.
    "floor+models": "benchmarks.models_app:app",
    "seed-style": "benchmarks.seed_style_app:app",
    # The product with MNIST_SERVE_METRICS=false: interleaved with `product`, the metrics' cost.
    "product-no-metrics": "mnist_serve.wsgi:app",
}
PAYLOADS = ("json", "binary", "batch-json", "batch-binary")
# TensorFlow is not fork-safe (its thread pools do not survive the fork): the seed-style app
# loads its models in each worker, as the seed itself did.
TARGET_ENV = {
    "seed-style": {"MNIST_SERVE_PRELOAD": "false"},
    "product": {"MNIST_SERVE_METRICS": "true"},
    "product-no-metrics": {"MNIST_SERVE_METRICS": "false"},
}


class LoadTestError(RuntimeError):
    pass


@dataclass
class LoadTestConfig:
    targets: list[str] = field(default_factory=lambda: list(TARGETS))
    # The server's own default, so a plain `loadtest` measures what `serve` would run.
    workers: list[int] = field(default_factory=lambda: [default_workers()])
    threads: int = 1
    payload: str = "json"
    batch: int = 32
    endpoint: str = "/verify_vector_image"
    connections: int = 16
    duration: float = 10.0
    warmup: float = 2.0
    wrk_threads: int = 2
    repeat: int = 1
    url: str | None = None
    worker_class: str = "auto"
    """MNIST_SERVE_WORKER_CLASS for every target (auto: gevent, gthread with threads > 1)."""
    data_dir: Path | None = None
    images: int = 1000


def require_wrk() -> str:
    wrk = shutil.which("wrk")
    if wrk is None:
        raise LoadTestError(
            "wrk is not installed: it is the load generator this command drives. "
            "Install it with `sudo apt-get install wrk` (Debian/Ubuntu) or `brew install wrk` (macOS)."
        )
    return wrk


def test_images(config: LoadTestConfig) -> np.ndarray:
    """MNIST test images as uint8 (n, 784), from the data the user named (or the download)."""
    from mnist_serve.data import load_mnist

    x = load_mnist(config.data_dir).x_test
    return x.reshape(len(x), -1)


def payload_bodies(config: LoadTestConfig, images: np.ndarray) -> tuple[list[bytes], str]:
    """`config.images` request bodies of distinct test images (each batch body holds `batch`
    consecutive ones), and their Content-Type."""
    if config.payload not in PAYLOADS:
        raise LoadTestError(f"unknown payload {config.payload!r}; choose one of {PAYLOADS}")
    per_body = config.batch if config.payload.startswith("batch") else 1
    bodies = []
    for b in range(config.images):
        rows = images[np.arange(b * per_body, (b + 1) * per_body) % len(images)]
        if config.payload.endswith("binary"):
            bodies.append(rows.tobytes())
        elif per_body == 1:
            bodies.append(json.dumps({"image_vector": rows[0].tolist()}).encode())
        else:
            bodies.append(json.dumps({"image_vectors": rows.tolist()}).encode())
    ctype = "application/octet-stream" if config.payload.endswith("binary") else "application/json"
    return bodies, ctype


def request_bodies(config: LoadTestConfig) -> tuple[list[bytes], str]:
    """The request bodies and Content-Type every load run sends: `payload_bodies` over the
    MNIST test images of `config.data_dir` (or the download). One place, so the loadtest, the
    benchmarks and the tests all rotate the same images."""
    return payload_bodies(config, test_images(config))


class BodyFiles:
    """The bodies on disk for wrk's script (and the floor+models app): all bodies concatenated,
    plus an index of their lengths, one per line. Removed on exit."""

    def __init__(self, bodies: list[bytes]) -> None:
        self.dir = tempfile.TemporaryDirectory(prefix="mnist-loadtest-")
        self.data = Path(self.dir.name) / "bodies.bin"
        self.index = Path(self.dir.name) / "bodies.idx"
        self.data.write_bytes(b"".join(bodies))
        self.index.write_text("".join(f"{len(b)}\n" for b in bodies))

    def env(self) -> dict[str, str]:
        env = {"LOADTEST_BODY_FILE": str(self.data), "LOADTEST_BODY_INDEX": str(self.index)}
        if self.answer.is_file():
            env["FLOOR_ANSWER_FILE"] = str(self.answer)
        return env

    @property
    def answer(self) -> Path:
        """The product's answer to the first body, for the floor to return (same size)."""
        return Path(self.dir.name) / "answer.json"

    def __enter__(self) -> BodyFiles:
        return self

    def __exit__(self, *exc: object) -> None:
        self.dir.cleanup()


def read_bodies(data: Path, index: Path) -> list[bytes]:
    """The bodies `BodyFiles` wrote, in order."""
    raw, bodies, at = data.read_bytes(), [], 0
    for size in map(int, index.read_text().split()):
        bodies.append(raw[at : at + size])
        at += size
    return bodies


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def _pss_kib(pid: int) -> int:
    """Proportional set size: shared pages split between the processes that share them."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


class GunicornServer:
    """One Gunicorn with the project's config file, for the duration of a `with` block."""

    def __init__(
        self, app: str, workers: int, threads: int, env: dict[str, str] | None = None
    ) -> None:
        self.app, self.workers, self.threads = app, workers, threads
        self.extra_env = env or {}
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> GunicornServer:
        env = {
            **os.environ,
            "MNIST_SERVE_BIND": f"127.0.0.1:{self.port}",
            "MNIST_SERVE_WORKERS": str(self.workers),
            "MNIST_SERVE_THREADS": str(self.threads),
            "MNIST_SERVE_LOG_LEVEL": "warning",
            "MNIST_SERVE_ACCESS_LOG": "false",
            **self.extra_env,
        }
        started = time.monotonic()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "python:mnist_serve.gunicorn_conf", self.app],
            env=env,
            cwd=PROJECT_ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        self.seconds_to_ready = self._wait_ready(started)
        return self

    def _wait_ready(self, started: float, timeout: float = 180) -> float:
        # Ready at the first 200 from /health/ready: workers boot in parallel, each loading
        # and warming its models before it accepts a connection.
        while time.monotonic() - started < timeout:
            if self.process.poll() is not None:
                raise LoadTestError(
                    f"{self.app} exited: {self.process.stderr.read().decode()[-2000:]}"
                )
            try:
                with urllib.request.urlopen(self.url + "/health/ready", timeout=2) as r:
                    if r.status == 200:
                        return time.monotonic() - started
            except OSError:
                pass
            time.sleep(0.05)
        raise LoadTestError(f"{self.app} not ready after {timeout} s")

    def worker_pids(self) -> list[int]:
        path = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        return [int(p) for p in path.read_text().split()]

    def memory(self) -> dict[str, Any]:
        pids = self.worker_pids()
        return {
            "workers": len(pids),
            "rss_mib_per_worker": round(np.mean([_rss_kib(p) for p in pids]) / 1024, 1),
            "pss_mib_per_worker": round(np.mean([_pss_kib(p) for p in pids]) / 1024, 1),
            "master_rss_mib": round(_rss_kib(self.process.pid) / 1024, 1),
        }

    def __exit__(self, *exc: object) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process.stderr.close()


def run_wrk(url: str, files: BodyFiles, content_type: str, config: LoadTestConfig, duration: float):
    wrk = require_wrk()
    env = {**os.environ, **files.env(), "WRK_CONTENT_TYPE": content_type}
    cmd = [
        wrk,
        f"-t{min(config.wrk_threads, config.connections)}",
        f"-c{config.connections}",
        f"-d{max(1, round(duration))}s",
        "--timeout",
        "10s",
        "-s",
        str(WRK_SCRIPT),
        url,
    ]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=duration + 60)
    match = re.search(r"^WRK_JSON (.*)$", out.stdout, re.MULTILINE)
    if out.returncode != 0 or match is None:
        raise LoadTestError(
            f"wrk failed ({out.returncode}): {out.stdout[-500:]} {out.stderr[-500:]}"
        )
    result = json.loads(match.group(1))
    result["requests_per_second"] = result["requests"] / (result["duration_us"] / 1e6)
    result["latency_ms"] = {k: v / 1000 for k, v in result.pop("latency_us").items()}
    return result


def _check_answer(url: str, body: bytes, content_type: str) -> None:
    """One request before the load: the answer must be a 200 with every served model's."""
    req = urllib.request.Request(url, data=body, headers={"Content-Type": content_type})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            answer = json.loads(r.read())
    except OSError as exc:
        raise LoadTestError(f"{url} did not answer the first request: {exc}") from exc
    first = answer[0] if isinstance(answer, list) else answer
    models = served_model_names()
    if set(first) != models:
        raise LoadTestError(
            f"{url} did not answer with the served models {sorted(models)}: {str(answer)[:200]}"
        )


def served_model_names() -> set[str]:
    """The models every answer must carry: the repository's, whatever they are named."""
    from mnist_serve.config import load_settings
    from mnist_serve.repository import model_names

    return set(model_names(load_settings().model_dir))


def measure(
    app: str, workers: int, config: LoadTestConfig, files: BodyFiles, ctype: str, env=None
) -> dict:
    env = {"MNIST_SERVE_WORKER_CLASS": config.worker_class, **files.env(), **(env or {})}
    with GunicornServer(app, workers, config.threads, env) as server:
        url = server.url + config.endpoint
        _check_answer(url, read_bodies(files.data, files.index)[0], ctype)
        run_wrk(url, files, ctype, config, config.warmup)
        memory = server.memory()
        result = run_wrk(url, files, ctype, config, config.duration)
        result.update(seconds_to_ready=round(server.seconds_to_ready, 2), memory=memory)
        return result


def run_loadtest(config: LoadTestConfig) -> dict[str, Any]:
    require_wrk()
    bodies, ctype = request_bodies(config)
    with BodyFiles(bodies) as files:
        if not config.url:
            files.answer.write_bytes(product_answer(bodies[0], ctype))
        return _run(config, files, ctype)


def product_answer(body: bytes, ctype: str) -> bytes:
    """What the product answers to `body`, computed in-process from the served models."""
    import orjson

    from mnist_serve.config import load_settings
    from mnist_serve.http.parsing import images_from_request
    from mnist_serve.http.responses import seed_answers
    from mnist_serve.runtime import ModelRegistry

    settings = load_settings()
    x, batched = images_from_request(ctype, body, settings.max_batch)
    answers = seed_answers(ModelRegistry.load(settings.model_dir).predict_all(x))
    return orjson.dumps(answers if batched else answers[0], option=orjson.OPT_SERIALIZE_NUMPY)


def _run(config: LoadTestConfig, files: BodyFiles, ctype: str) -> dict[str, Any]:
    report: dict[str, Any] = {
        "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in config.__dict__.items()},
        "machine": {"cores": os.cpu_count()},
        "runs": [],
    }
    from mnist_serve.bench import cpu_name

    report["machine"]["cpu"] = cpu_name()
    if config.url:
        _check_answer(config.url + config.endpoint, read_bodies(files.data, files.index)[0], ctype)
        run = run_wrk(config.url + config.endpoint, files, ctype, config, config.duration)
        report["runs"].append({"target": "url", "url": config.url, **run})
    else:
        for workers in config.workers:
            measured: dict[str, list[dict]] = {t: [] for t in config.targets}
            # Rounds interleave the targets, so a slow spell of the machine hits them all.
            for round_ in range(config.repeat):
                for target in config.targets:
                    label = f" (round {round_ + 1}/{config.repeat})" if config.repeat > 1 else ""
                    print(
                        f"-- {target}, {workers} worker(s), {config.payload}{label} ...", flush=True
                    )
                    run = measure(
                        TARGETS[target], workers, config, files, ctype, TARGET_ENV.get(target)
                    )
                    measured[target].append({"target": target, "workers": workers, **run})
                    print("   " + _row(measured[target][-1]), flush=True)
            report["runs"] += [median_run(measured[target]) for target in config.targets]
    report["ratios"] = ratios(report["runs"])
    return report


def median_run(runs: list[dict]) -> dict:
    """The run with the median requests/s (the lower middle for an even count), with every
    run's requests/s beside it: one number per target that a single noisy run cannot set."""
    ordered = sorted(runs, key=lambda r: r["requests_per_second"])
    chosen = dict(ordered[(len(ordered) - 1) // 2])
    if len(runs) > 1:
        chosen["repeats"] = len(runs)
        chosen["requests_per_second_all"] = [round(r["requests_per_second"], 1) for r in runs]
        # Kept per run, so an outlier (a round that completed nothing) can be told apart: did
        # its requests time out, fail to connect, or get errors?
        chosen["errors_all"] = [r["errors"] for r in runs]
    return chosen


def ratios(runs: list[dict]) -> list[dict]:
    """product / floor, product / seed-style and the models' share, per worker count."""
    out = []
    for workers in sorted({r.get("workers") for r in runs if r.get("workers")}):
        by = {r["target"]: r["requests_per_second"] for r in runs if r.get("workers") == workers}
        if "product" not in by:
            continue
        row: dict[str, Any] = {"workers": workers}
        if by.get("floor"):
            row["product_over_floor"] = round(by["product"] / by["floor"], 3)
        if by.get("seed-style"):
            row["product_over_seed_style"] = round(by["product"] / by["seed-style"], 1)
        if by.get("product-no-metrics"):
            # Share of throughput the Prometheus metrics cost (issue 10's budget: under 5%).
            row["metrics_cost"] = round(1 - by["product"] / by["product-no-metrics"], 4)
        if by.get("floor+models"):
            row["product_over_floor_plus_models"] = round(by["product"] / by["floor+models"], 3)
            if by.get("floor"):
                row["floor_plus_models_over_floor"] = round(by["floor+models"] / by["floor"], 3)
        out.append(row)
    return out


def _row(run: dict) -> str:
    lat = run["latency_ms"]
    errors = sum(v for k, v in run["errors"].items() if k != "non_2xx")
    mem = run.get("memory", {}).get("rss_mib_per_worker", "")
    return (
        f"{run['target']:<13} {run.get('workers', ''):>3} {run['requests_per_second']:>9.1f} "
        f"{lat['p50']:>7.2f} {lat['p90']:>7.2f} {lat['p99']:>8.2f} {lat['max']:>8.1f} "
        f"{errors:>6} {run['errors']['non_2xx']:>7} {mem:>8}"
    )


def table(report: dict) -> str:
    head = (
        f"{'target':<13} {'wrk':>3} {'req/s':>9} {'p50 ms':>7} {'p90 ms':>7} {'p99 ms':>8} "
        f"{'max ms':>8} {'errors':>6} {'non-2xx':>7} {'RSS MiB':>8}"
    )
    head = head.replace(" wrk", "  wk")
    lines = [head] + [_row(r) for r in report["runs"]]
    for row in report["ratios"]:
        parts = [f"workers={row['workers']}"]
        if "product_over_floor" in row:
            parts.append(f"product/floor = {row['product_over_floor']:.1%}")
        if "product_over_seed_style" in row:
            parts.append(f"product/seed-style = {row['product_over_seed_style']:.0f}x")
        if "product_over_floor_plus_models" in row:
            parts.append(f"product/(floor+models) = {row['product_over_floor_plus_models']:.1%}")
        if "floor_plus_models_over_floor" in row:
            parts.append(f"(floor+models)/floor = {row['floor_plus_models_over_floor']:.1%}")
        lines.append("  ".join(parts))
    return "\n".join(lines)


def plot(report: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = [r for r in report["runs"] if r.get("workers")]
    targets = [t for t in TARGETS if any(r["target"] == t for r in runs)]
    workers = sorted({r["workers"] for r in runs})
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
    width = 0.8 / max(1, len(targets))
    by_key = {(r["target"], r["workers"]): r for r in runs}

    def series(target: str, value, missing: float) -> list[float]:
        """One number per worker count for a target (`missing` where it was not run)."""
        return [value(by_key[target, w]) if (target, w) in by_key else missing for w in workers]

    for i, target in enumerate(targets):
        rps = series(target, lambda r: r["requests_per_second"], 0)
        pos = np.arange(len(workers)) + (i - (len(targets) - 1) / 2) * width
        bars = left.bar(pos, rps, width, label=target)
        left.bar_label(bars, fmt="%.0f", fontsize=7)
    left.set_xticks(np.arange(len(workers)), [str(w) for w in workers])
    left.set_xlabel("Gunicorn workers")
    left.set_ylabel("requests / second")
    left.set_title(
        f"{report['config']['payload']} payload, {report['config']['connections']} connections"
    )
    left.legend()
    # seed-style's seconds would flatten everyone else's milliseconds: drawn only when alone.
    drawn = [t for t in targets if t != "seed-style"] or targets
    for target in drawn:
        p99 = series(target, lambda r: r["latency_ms"]["p99"], np.nan)
        p50 = series(target, lambda r: r["latency_ms"]["p50"], np.nan)
        line = right.plot(workers, p99, marker="o", label=f"{target} p99")[0]
        right.plot(
            workers, p50, marker=".", linestyle="--", color=line.get_color(), label=f"{target} p50"
        )
    right.set_xlabel("Gunicorn workers")
    right.set_ylabel("latency (ms)")
    right.set_xscale("log", base=2)
    right.set_xticks(workers, [str(w) for w in workers])
    right.set_title(
        "latency (seed-style omitted: off the scale)" if drawn != targets else "latency"
    )
    right.legend(fontsize=8)
    fig.suptitle(
        f"mnist-serve load test, {report['machine']['cores']} cores ({report['machine']['cpu']})",
        fontsize=9,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def write_report(report: dict, out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    plot(report, out.with_suffix(".png"))
