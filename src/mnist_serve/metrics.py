"""Prometheus metrics, exact across Gunicorn's worker processes (prometheus_client multiprocess).

The master makes its own empty directory under $TMPDIR (`prepare_multiprocess_dir`, before any
import of prometheus_client, which picks its storage at import time) and removes it at exit, so
the operator sets nothing and a read-only root filesystem with an emptyDir on /tmp works.
When a worker exits, `worker_exited` drops its live gauges and folds its counters and
histograms into one archive file per type (client_python issue 275: with `max_requests`
recycling, per-pid files would otherwise pile up and slow every scrape). Scrapes take a shared
lock on the directory and the fold an exclusive one, so no scrape sees a worker twice or never.

The names and labels are a contract (dashboards and alerts use them); see README.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ENV_DIR = "PROMETHEUS_MULTIPROC_DIR"
# Set by the Gunicorn config in the master: the pid whose directory this is, and whose
# children are the workers (for process metrics summed over the server).
ENV_MASTER = "MNIST_SERVE_METRICS_MASTER_PID"
LOCK_FILE = ".lock"
UNROUTED = "unrouted"
REQUEST_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
INFERENCE_BUCKETS = (
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1,
)  # fmt: skip
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

_owned_dir: Path | None = None


# --- the master's side ---------------------------------------------------------------------


def prepare_multiprocess_dir() -> Path:
    """A fresh, empty directory for this server's metric files (idempotent per process)."""
    global _owned_dir
    if _owned_dir is None or os.environ.get(ENV_MASTER) != str(os.getpid()):
        _owned_dir = Path(tempfile.mkdtemp(prefix="mnist-serve-metrics-"))
        os.environ[ENV_DIR] = str(_owned_dir)
        os.environ[ENV_MASTER] = str(os.getpid())
    return _owned_dir


def remove_multiprocess_dir() -> None:
    """At server exit: the files mean nothing to the next server."""
    if _owned_dir is not None and os.environ.get(ENV_MASTER) == str(os.getpid()):
        shutil.rmtree(_owned_dir, ignore_errors=True)


@contextmanager
def _locked(path: Path, mode: int) -> Iterator[None]:
    with open(path / LOCK_FILE, "a") as lock:
        fcntl.flock(lock, mode)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def worker_exited(pid: int) -> None:
    """Gunicorn's `child_exit`: drop the worker's live gauges, archive its counts."""
    path = os.environ.get(ENV_DIR)
    if not path or not os.path.isdir(path):
        return
    from prometheus_client import multiprocess
    from prometheus_client.mmap_dict import MmapedDict

    directory = Path(path)
    with _locked(directory, fcntl.LOCK_EX):
        multiprocess.mark_process_dead(pid, path)
        for kind in ("counter", "histogram"):
            dead = directory / f"{kind}_{pid}.db"
            if not dead.exists():
                continue
            archive = MmapedDict(str(directory / f"{kind}_archive.db"))
            try:
                for key, value, timestamp, _ in MmapedDict.read_all_values_from_file(str(dead)):
                    before, _ = archive.read_value(key)
                    archive.write_value(key, before + value, timestamp)
            finally:
                archive.close()
            dead.unlink()
        for stale in directory.glob(f"gauge_*_{pid}.db"):  # non-live gauge modes
            stale.unlink()


# --- the workers' side ---------------------------------------------------------------------


class Metrics:
    """The server's metric objects, created once per process (prometheus_client forbids twice)."""

    def __init__(self) -> None:
        from prometheus_client import Counter, Gauge, Histogram

        self.requests = Counter(
            "mnist_serve_requests_total",
            "HTTP requests answered, by route rule, method and status code.",
            ["endpoint", "method", "status"],
        )
        self.request_seconds = Histogram(
            "mnist_serve_request_duration_seconds",
            "Time from the request's arrival in Flask to its response, by route rule.",
            ["endpoint"],
            buckets=REQUEST_BUCKETS,
        )
        self.images = Counter(
            "mnist_serve_inference_images_total",
            "Images predicted, by model and version.",
            ["model", "version"],
        )
        self.inference_seconds = Histogram(
            "mnist_serve_inference_duration_seconds",
            "Time spent in one model's prediction call.",
            ["model"],
            buckets=INFERENCE_BUCKETS,
        )
        self.loaded = Gauge(
            "mnist_serve_model_loaded",
            "1 for the version a live worker serves.",
            ["model", "version"],
            multiprocess_mode="livemax",
        )
        # Labelled children, looked up once: `.labels()` costs as much as the update itself.
        self._request_children: dict[tuple[str, str, int], Any] = {}
        self._inference_children: dict[tuple[str, str], Any] = {}

    def observe_request(self, endpoint: str, method: str, status: int, seconds: float) -> None:
        key = (endpoint, method, status)
        children = self._request_children.get(key)
        if children is None:
            children = self._request_children[key] = (
                self.requests.labels(endpoint, method, str(status)),
                self.request_seconds.labels(endpoint),
            )
        children[0].inc()
        children[1].observe(seconds)

    def observe_inference(self, model: str, version: str, images: int, seconds: float) -> None:
        key = (model, version)
        children = self._inference_children.get(key)
        if children is None:
            children = self._inference_children[key] = (
                self.images.labels(model, version),
                self.inference_seconds.labels(model),
            )
        children[0].inc(images)
        children[1].observe(seconds)

    def models_swapped(self, old: Any, new: Any) -> None:
        """Rollout listener: 0 for versions no longer served, 1 for the served ones."""
        served = {(m.name, m.version) for m in new.served}
        for model in old.served if old is not None else []:
            if (model.name, model.version) not in served:
                self.loaded.labels(model.name, model.version).set(0)
        for name, version in served:
            self.loaded.labels(name, version).set(1)


_metrics: Metrics | None = None


def metrics() -> Metrics:
    global _metrics
    if _metrics is None:
        _metrics = Metrics()
    return _metrics


def render() -> bytes:
    """The exposition text: every worker's files merged, plus the server's process metrics."""
    from prometheus_client import REGISTRY, CollectorRegistry, generate_latest

    path = os.environ.get(ENV_DIR)
    if not path or not os.path.isdir(path):
        return generate_latest(REGISTRY)  # one process, not under our Gunicorn config
    from prometheus_client import multiprocess

    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=path)
    registry.register(ServerProcessCollector())
    with _locked(Path(path), fcntl.LOCK_SH):
        return generate_latest(registry)


class ServerProcessCollector:
    """The client library's `process_*` metrics for the whole server: master plus workers.

    prometheus_client's ProcessCollector sees one process; in multiprocess mode that would be
    whichever worker answered the scrape. CPU seconds, memory and open fds are summed over the
    master and its live workers; start time and fd limit are the master's.
    """

    SUMMED = frozenset(
        {
            "process_cpu_seconds_total",
            "process_cpu_seconds",
            "process_virtual_memory_bytes",
            "process_resident_memory_bytes",
            "process_open_fds",
        }
    )

    def collect(self):
        from prometheus_client import ProcessCollector

        master = int(os.environ.get(ENV_MASTER, os.getppid()))
        pids = [master, *_children(master)]
        families: dict[str, Any] = {}
        for pid in pids:
            for family in ProcessCollector(registry=None, pid=lambda pid=pid: pid).collect():
                kept = families.get(family.name)
                if kept is None:
                    families[family.name] = family
                    continue
                for mine, theirs in zip(kept.samples, family.samples, strict=False):
                    if mine.name in self.SUMMED:
                        index = kept.samples.index(mine)
                        kept.samples[index] = mine._replace(value=mine.value + theirs.value)
        yield from families.values()


def _children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []
