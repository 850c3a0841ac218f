"""`mnist-serve faults`: what killed workers, reloads, shutdowns, long runs and slow clients
cost a real Gunicorn under load. Results go to a JSON file and a PNG plot.

Every scenario starts its own server on a free loopback port, sends traffic only there and
stops by itself: load is bounded in time (wrk -d), slow clients in count and time. `make
test` runs the same scenarios at small size (tests/test_faults.py); the command runs them at
full size for the README.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mnist_serve.config import PROJECT_ROOT
from mnist_serve.loadtest import BodyFiles, GunicornServer, LoadTestConfig, _rss_kib, run_wrk

PRODUCT = "mnist_serve.wsgi:app"
ENDPOINT = "/verify_vector_image"
EXAMPLE = PROJECT_ROOT / "examples" / "mnist_image_example.json"
SCENARIOS = ("sigkill", "sighup", "sigterm", "soak", "slow_clients", "kill_all")


@dataclass
class FaultConfig:
    """Sizes: the defaults are the full run; tests pass small ones."""

    workers: int = 2
    connections: int = 16
    duration: float = 20.0
    """Seconds of load around each signal."""
    soak: float = 60.0
    slow_clients: int = 200
    slow_seconds: float = 20.0
    """How long the slow clients trickle while the normal client is measured."""
    normal_requests: int = 200
    in_flight: int = 8
    """Requests half-sent when SIGTERM arrives; each must still be answered."""
    env: dict[str, str] | None = None
    """Extra MNIST_SERVE_* settings for the server (e.g. another worker class)."""


def body() -> bytes:
    pixels = json.loads(EXAMPLE.read_text())["image_vector"]
    return json.dumps({"image_vector": pixels}).encode()


@contextmanager
def _server(config: FaultConfig) -> Iterator[GunicornServer]:
    server = GunicornServer(PRODUCT, config.workers, 1, config.env)
    try:
        with server:
            yield server
    finally:
        if getattr(server, "process", None) is not None and server.process.stderr:
            server.process.stderr.close()


def wrk(url: str, connections: int, duration: float) -> dict[str, Any]:
    """wrk POSTing the example image to `url` + ENDPOINT for `duration` seconds."""
    config = LoadTestConfig(connections=connections, duration=duration)
    with BodyFiles([body()]) as files:
        return run_wrk(url + ENDPOINT, files, "application/json", config, duration)


def _failures(result: dict) -> int:
    return sum(result["errors"].values())


class _Load:
    """wrk in a background thread for `duration` seconds."""

    def __init__(self, url: str, config: FaultConfig, duration: float) -> None:
        self.result: dict[str, Any] | None = None
        self.error: BaseException | None = None

        def run() -> None:
            try:
                self.result = wrk(url, config.connections, duration)
            except BaseException as exc:  # reported by join()
                self.error = exc

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()

    def join(self) -> dict[str, Any]:
        self.thread.join()
        if self.error is not None:
            raise self.error
        assert self.result is not None
        return self.result


def _summary(result: dict, **extra: Any) -> dict[str, Any]:
    failed = _failures(result)
    return {
        "requests": result["requests"],
        "failed": failed,
        "failed_percent": round(100 * failed / max(1, result["requests"] + failed), 4),
        "errors": result["errors"],
        "requests_per_second": round(result["requests_per_second"], 1),
        "p99_ms": round(result["latency_ms"]["p99"], 2),
        **extra,
    }


def wait_ready(url: str, timeout: float = 60.0) -> float:
    """Seconds until /health/ready answers 200 (raises after `timeout`)."""
    started = time.monotonic()
    host, port = url.removeprefix("http://").split(":")
    while time.monotonic() - started < timeout:
        try:
            conn = http.client.HTTPConnection(host, int(port), timeout=2)
            conn.request("GET", "/health/ready")
            if conn.getresponse().status == 200:
                return time.monotonic() - started
        except OSError:
            pass
        finally:
            conn.close()
        time.sleep(0.05)
    raise TimeoutError(f"{url} not ready again within {timeout} s")


def sigkill_worker(config: FaultConfig) -> dict[str, Any]:
    """One worker SIGKILLed halfway through the load: the master forks a replacement."""
    with _server(config) as server:
        load = _Load(server.url, config, config.duration)
        time.sleep(config.duration / 2)
        os.kill(server.worker_pids()[0], signal.SIGKILL)
        return _summary(load.join(), workers_after=len(server.worker_pids()))


def sighup(config: FaultConfig) -> dict[str, Any]:
    """Two SIGHUPs (graceful reload: new workers, old ones finish) under load."""
    with _server(config) as server:
        before = set(server.worker_pids())
        load = _Load(server.url, config, config.duration)
        for _ in range(2):
            time.sleep(config.duration / 3)
            os.kill(server.process.pid, signal.SIGHUP)
        result = load.join()
        # The replaced workers must leave (not linger until the master kills them).
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            now = set(server.worker_pids())
            if len(now) == config.workers and not now & before:
                break
            time.sleep(0.2)
        return _summary(
            result,
            reloads=2,
            workers_after=len(now),
            old_workers_left=len(now & before),
        )


def _half_sent(url: str, payload: bytes) -> socket.socket:
    """A connection that has sent its headers and half its body: accepted, in flight."""
    host, port = url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=30)
    head = (
        f"POST {ENDPOINT} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(payload)}\r\nConnection: close\r\n\r\n"
    ).encode()
    sock.sendall(head + payload[: len(payload) // 2])
    return sock


def _finish(sock: socket.socket, payload: bytes) -> int:
    """Send the rest of the body; the HTTP status answered (0 when the connection died)."""
    try:
        sock.sendall(payload[len(payload) // 2 :])
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
        return int(data.split(b" ", 2)[1]) if data.startswith(b"HTTP/") else 0
    except OSError:
        return 0
    finally:
        sock.close()


def sigterm(config: FaultConfig) -> dict[str, Any]:
    """SIGTERM with requests in flight: each accepted request is still answered."""
    payload = body()
    with _server(config) as server:
        load = _Load(server.url, config, config.duration)
        time.sleep(config.duration / 2)
        in_flight = [_half_sent(server.url, payload) for _ in range(config.in_flight)]
        time.sleep(0.5)  # accepted by the workers, waiting for the rest of their bodies
        os.kill(server.process.pid, signal.SIGTERM)
        time.sleep(0.5)
        statuses = [_finish(sock, payload) for sock in in_flight]
        exit_code = server.process.wait(timeout=30)
        result = load.join()
    return {
        "in_flight": len(statuses),
        "in_flight_answered_200": sum(s == 200 for s in statuses),
        "exit_code": exit_code,
        # wrk keeps trying after the listener has closed: refused connects are expected.
        "load_requests": result["requests"],
        "load_errors_after_shutdown": result["errors"],
    }


def soak(config: FaultConfig) -> dict[str, Any]:
    """A long run: errors and worker memory growth from after warm-up to the end."""
    with _server(config) as server:
        wrk(server.url, config.connections, 2)
        pids = server.worker_pids()
        before = sum(_rss_kib(p) for p in pids)
        result = wrk(server.url, config.connections, config.soak)
        same = server.worker_pids() == pids
        after = sum(_rss_kib(p) for p in pids)
    return _summary(
        result,
        seconds=config.soak,
        rss_mib_before=round(before / 1024, 1),
        rss_mib_after=round(after / 1024, 1),
        rss_growth_percent=round(100 * (after - before) / before, 2),
        same_workers=same,
    )


class SlowClients:
    """`count` connections, half trickling their headers and half their bodies, one byte per
    second each, from one thread; all closed after `seconds` (or on exit)."""

    def __init__(self, url: str, count: int, seconds: float) -> None:
        host, port = url.removeprefix("http://").split(":")
        self.address, self.seconds = (host, int(port)), seconds
        self.count = count
        self.stop = threading.Event()
        self.opened = 0
        self.thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> SlowClients:
        self.thread.start()
        time.sleep(1.0)  # let them connect and start trickling
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join()

    def _run(self) -> None:
        host = self.address[0]
        headers = (
            f"POST {ENDPOINT} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
            "Content-Length: 1000000\r\n\r\n"
        ).encode()
        streams: list[tuple[socket.socket, bytes]] = []
        for i in range(self.count):
            try:
                sock = socket.create_connection(self.address, timeout=5)
            except OSError:
                continue
            if i % 2:  # body trickler: whole headers now, then the body a byte at a time
                sock.sendall(headers)
                streams.append((sock, b"[" * 1_000_000))
            else:  # header trickler
                streams.append((sock, headers))
        self.opened = len(streams)
        deadline = time.monotonic() + self.seconds
        sent = 0
        while not self.stop.is_set() and time.monotonic() < deadline:
            for sock, data in streams:
                with contextlib.suppress(OSError):
                    sock.send(data[sent : sent + 1])
            sent += 1
            self.stop.wait(1.0)
        for sock, _ in streams:
            sock.close()


def normal_client(url: str, count: int, timeout: float = 5.0) -> dict[str, Any]:
    """`count` requests one after another, each on a new connection: latency and failures."""
    host, port = url.removeprefix("http://").split(":")
    payload = body()
    latencies, failures = [], 0
    for _ in range(count):
        started = time.perf_counter()
        conn = http.client.HTTPConnection(host, int(port), timeout=timeout)
        try:
            conn.request("POST", ENDPOINT, payload, {"Content-Type": "application/json"})
            response = conn.getresponse()
            response.read()
            if response.status != 200:
                failures += 1
                continue
            latencies.append(time.perf_counter() - started)
        except OSError:
            failures += 1
        finally:
            conn.close()
    ms = np.array(latencies) * 1000 if latencies else np.array([np.nan])
    return {
        "requests": count,
        "failed": failures,
        "p50_ms": round(float(np.percentile(ms, 50)), 2),
        "p99_ms": round(float(np.percentile(ms, 99)), 2),
        "max_ms": round(float(ms.max()), 2),
    }


def slow_clients(config: FaultConfig, url: str | None = None) -> dict[str, Any]:
    """A normal client's latency while `slow_clients` connections trickle; `url` to aim at a
    server started elsewhere (e.g. nginx in front), else one of our own."""
    if url is not None:
        return _slow_clients_at(url, config)
    with _server(config) as server:
        return _slow_clients_at(server.url, config)


def _slow_clients_at(url: str, config: FaultConfig) -> dict[str, Any]:
    with SlowClients(url, config.slow_clients, config.slow_seconds) as slow:
        normal = normal_client(url, config.normal_requests)
        opened = slow.opened
    return {"slow_clients": opened, "normal": normal}


def kill_all(config: FaultConfig) -> dict[str, Any]:
    """Every worker SIGKILLed at once: the master forks new ones and serving resumes."""
    with _server(config) as server:
        for pid in server.worker_pids():
            os.kill(pid, signal.SIGKILL)
        seconds = wait_ready(server.url)
        answered = normal_client(server.url, 10)
        return {
            "recovered": answered["failed"] == 0,
            "seconds_to_ready": round(seconds, 2),
            "workers_after": len(server.worker_pids()),
        }


RUNNERS = {
    "sigkill": sigkill_worker,
    "sighup": sighup,
    "sigterm": sigterm,
    "soak": soak,
    "slow_clients": slow_clients,
    "kill_all": kill_all,
}


def run_faults(config: FaultConfig, scenarios: list[str]) -> dict[str, Any]:
    report: dict[str, Any] = {
        "config": {k: v for k, v in asdict(config).items() if k != "env"},
        "server_env": config.env or {},
        "cpu_count": os.cpu_count(),
        "scenarios": {},
    }
    for name in scenarios:
        started = time.monotonic()
        report["scenarios"][name] = RUNNERS[name](config)
        report["scenarios"][name]["wall_seconds"] = round(time.monotonic() - started, 1)
    return report


def verdicts(report: dict[str, Any]) -> dict[str, bool]:
    """Issue 9's targets, per scenario that ran."""
    s = report["scenarios"]
    checks = {
        "sigkill": lambda r: r["failed_percent"] <= 0.1,
        "sighup": lambda r: r["failed"] == 0,
        "sigterm": lambda r: r["in_flight_answered_200"] == r["in_flight"],
        "soak": lambda r: r["failed"] == 0 and r["rss_growth_percent"] < 10,
        "slow_clients": lambda r: r["normal"]["failed"] == 0 and r["normal"]["p99_ms"] <= 100,
        "kill_all": lambda r: r["recovered"],
    }
    return {name: checks[name](s[name]) for name in s}


def plot(report: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    s = report["scenarios"]
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    loads = [n for n in ("sigkill", "sighup", "soak") if n in s]
    axes[0].bar(loads, [s[n]["failed_percent"] for n in loads], color="tab:red")
    axes[0].axhline(0.1, color="grey", linestyle="--", label="0.1% target (SIGKILL)")
    axes[0].set_ylabel("failed requests (%)")
    axes[0].set_title("Faults under load")
    axes[0].legend()
    if "slow_clients" in s:
        normal = s["slow_clients"]["normal"]
        axes[1].bar(["p50", "p99", "max"], [normal["p50_ms"], normal["p99_ms"], normal["max_ms"]])
        axes[1].axhline(100, color="grey", linestyle="--", label="100 ms target")
        axes[1].set_title(f"Normal client beside {s['slow_clients']['slow_clients']} slow clients")
        axes[1].set_ylabel("latency (ms)")
        axes[1].legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def write_report(report: dict[str, Any], out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    report["verdicts"] = verdicts(report)
    out.write_text(json.dumps(report, indent=2) + "\n")
    plot(report, out.with_suffix(".png"))
