"""Three replicas behind Debian's nginx under load: one SIGKILLed, one restarted, a version rolled.

    .venv/bin/python benchmarks/replicas.py [--workers 1] [--clients 8] [--hold 3]

Starts 3 Gunicorn replicas on 127.0.0.2-4 (one port each, loopback only) and nginx in front of
them on 127.0.0.1 with passive health checks (`max_fails`/`fail_timeout`: a replica that refuses
or resets connections is taken out for a while). Load comes from --clients threads, each POSTing
the example on a new connection, bounded by --max-requests and the scenario's end. Then, in turn:

1. `sigkill`: replica 1's master and workers are SIGKILLed (a node or OOM kill); --hold seconds
   later it is started again (Kubernetes restarting the pod) and waited for until ready;
2. `restart`: replica 2 is restarted the way a rollout does it: taken out of the balancer (nginx
   reload with the server `down`: the endpoint removal that the preStop sleep waits for), stopped
   with SIGTERM (Gunicorn finishes requests in flight), started, waited for, put back;
3. `roll`: a new model version (same artifacts, version number + 1) is rolled across the three
   replicas one by one, the same way, each checked to serve it before the next.

The scenario runs twice: nginx retrying on connection errors (`proxy_next_upstream error
timeout non_idempotent`: inference has no side effects, so a POST may go to another replica)
and without (`proxy_next_upstream off`). Every request is counted in the phase it ended in (a
request in flight at the kill fails after it).
Writes `benchmarks/results/replicas.json` and a timeline plot.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "results" / "replicas.json"
EXAMPLE = ROOT / "examples" / "mnist_image_example.json"
NGINX = "/usr/sbin/nginx"
HOSTS = ["127.0.0.2", "127.0.0.3", "127.0.0.4"]  # loopback only (127.0.0.0/8)
ENDPOINT = "/verify_vector_image"
GUNICORN_CONF = "python:mnist_serve.gunicorn_conf"  # the product's own settings, as `make serve`


def free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def new_version(models: Path, dest: Path) -> str:
    """A copy of the repository whose models carry the next version number (same artifacts)."""
    shutil.copytree(models, dest)
    manifest = dest / "manifest.json"
    if manifest.is_file():  # one manifest for all models
        data = json.loads(manifest.read_text())
        version = str(max(int(m["version"]) for m in data["models"]) + 1)
        for m in data["models"]:
            m["version"] = version
        manifest.write_text(json.dumps(data, indent=2))
        return version
    # The model repository: <name>/<version>/model.json (+ artifacts); highest version served.
    version = 0
    for model in [d for d in dest.iterdir() if d.is_dir()]:
        versions = sorted(int(v.name) for v in model.iterdir() if v.name.isdigit())
        version = max(version, versions[-1] + 1)
    for model in [d for d in dest.iterdir() if d.is_dir()]:
        latest = max((v for v in model.iterdir() if v.name.isdigit()), key=lambda v: int(v.name))
        target = model / str(version)
        shutil.copytree(latest, target)
        meta = target / "model.json"
        data = json.loads(meta.read_text())
        if "version" in data:
            data["version"] = str(version) if isinstance(data["version"], str) else version
            meta.write_text(json.dumps(data, indent=2))
    return str(version)


@dataclass
class Replica:
    host: str
    port: int
    workers: int
    model_dir: Path
    process: subprocess.Popen | None = None
    starts: int = 0
    seconds_to_ready: list[float] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout: float = 180) -> None:
        env = {
            **os.environ,
            "MNIST_SERVE_BIND": f"{self.host}:{self.port}",
            "MNIST_SERVE_WORKERS": str(self.workers),
            "MNIST_SERVE_MODEL_DIR": str(self.model_dir),
            "MNIST_SERVE_LOG_LEVEL": "warning",
        }
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", GUNICORN_CONF, "mnist_serve.wsgi:app"],
            env=env,
            cwd=ROOT,
            start_new_session=True,  # its own process group: SIGKILL takes master and workers
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.starts += 1
        started = time.monotonic()
        deadline = started + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"replica {self.host}:{self.port} exited at start")
            if self.ready():
                self.seconds_to_ready.append(round(time.monotonic() - started, 2))
                return
            time.sleep(0.1)
        raise RuntimeError(f"replica {self.host}:{self.port} not ready after {timeout} s")

    def ready(self) -> dict | None:
        try:
            with urllib.request.urlopen(self.url + "/health/ready", timeout=2) as r:
                return json.loads(r.read()) if r.status == 200 else None
        except OSError:
            return None

    def versions(self) -> dict[str, str]:
        answer = self.ready() or {"models": []}
        return {m["name"]: str(m["version"]) for m in answer["models"]}

    def sigkill(self) -> None:
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def stop(self, timeout: float = 60) -> None:
        """SIGTERM: Gunicorn stops accepting and finishes the requests in flight."""
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


class Nginx:
    """Debian's nginx as the balancer, in its own prefix directory, on a loopback port."""

    def __init__(self, directory: Path, replicas: list[Replica], retry: bool) -> None:
        self.dir, self.replicas, self.retry = directory, replicas, retry
        self.port = free_port("127.0.0.1")
        self.down: set[int] = set()
        for sub in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
            (self.dir / sub).mkdir(parents=True, exist_ok=True)
            (self.dir / sub).chmod(0o777)
        self.conf = self.dir / "nginx.conf"

    def render(self) -> str:
        servers = "\n".join(
            f"    server {r.host}:{r.port} max_fails=1 fail_timeout=2s"
            + (" down" if i in self.down else "")
            + ";"
            for i, r in enumerate(self.replicas)
        )
        retry = (
            "proxy_next_upstream error timeout non_idempotent;\n"
            "      proxy_next_upstream_tries 3;\n"
            "      proxy_next_upstream_timeout 10s;"
            if self.retry
            else "proxy_next_upstream off;"
        )
        user = "user nobody nogroup;\n" if os.geteuid() == 0 else ""
        d = self.dir
        return f"""{user}daemon off;
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 1024; }}
http {{
  access_log off;
  client_body_temp_path {d}/body;
  proxy_temp_path {d}/proxy;
  fastcgi_temp_path {d}/fastcgi;
  uwsgi_temp_path {d}/uwsgi;
  scgi_temp_path {d}/scgi;
  client_max_body_size 1m;
  upstream mnist {{
{servers}
  }}
  server {{
    listen 127.0.0.1:{self.port};
    location / {{
      proxy_pass http://mnist;
      proxy_connect_timeout 1s;
      proxy_read_timeout 30s;
      {retry}
    }}
  }}
}}
"""

    def start(self) -> None:
        self.conf.write_text(self.render())
        self.process = subprocess.Popen(
            [NGINX, "-p", str(self.dir), "-c", str(self.conf), "-e", str(self.dir / "error.log")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,  # its messages go to error.log (-e)
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"nginx exited: {(self.dir / 'error.log').read_text()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("nginx did not listen within 30 s")

    def set_down(self, index: int, down: bool) -> None:
        """Take a replica out of (or back into) rotation: rewrite, then a graceful reload."""
        (self.down.add if down else self.down.discard)(index)
        self.conf.write_text(self.render())
        before = set(self.workers())
        self.process.send_signal(signal.SIGHUP)
        # Reloaded when the old workers (old configuration) have finished and exited.
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            now = set(self.workers())
            if now and not now & before:
                return
            time.sleep(0.05)
        raise RuntimeError("nginx did not reload within 30 s")

    def workers(self) -> list[int]:
        pid = self.process.pid
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]

    def stop(self) -> None:
        self.process.send_signal(signal.SIGQUIT)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@dataclass
class Load:
    """Client threads POSTing the example through the balancer, each request recorded."""

    port: int
    clients: int
    max_requests: int
    body: bytes = field(default_factory=lambda: EXAMPLE.read_bytes())
    records: list[tuple[float, str]] = field(default_factory=list)  # (ended at, outcome)

    def __post_init__(self) -> None:
        self.stop_event = threading.Event()
        self.lock = threading.Lock()
        self.t0 = time.monotonic()

    def one(self) -> str:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            conn.request("POST", ENDPOINT, self.body, {"Content-Type": "application/json"})
            response = conn.getresponse()
            payload = response.read()
            if response.status == 200 and b"predicted_number" in payload:
                return "ok"
            return f"http_{response.status}"
        except (OSError, http.client.HTTPException) as exc:
            # Connection refused/reset, or a response cut after its headers (IncompleteRead).
            return f"client_{type(exc).__name__}"
        finally:
            conn.close()

    def loop(self) -> None:
        while not self.stop_event.is_set():
            with self.lock:
                if len(self.records) >= self.max_requests:
                    return
            outcome = self.one()
            with self.lock:
                self.records.append((time.monotonic() - self.t0, outcome))

    def __enter__(self) -> Load:
        self.threads = [threading.Thread(target=self.loop) for _ in range(self.clients)]
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop_event.set()
        for t in self.threads:
            t.join()

    def now(self) -> float:
        return time.monotonic() - self.t0


def scenario(retry: bool, workers: int, clients: int, hold: float, max_requests: int) -> dict:
    """One full run (kill, restart, roll) with nginx retrying or not."""
    work = Path(tempfile.mkdtemp(prefix="mnist-replicas-"))
    work.chmod(0o755)
    v1 = work / "models-v1"
    shutil.copytree(ROOT / "models", v1)
    v2 = work / "models-v2"
    version = new_version(v1, v2)
    replicas = [Replica(h, free_port(h), workers, v1) for h in HOSTS]
    nginx = Nginx(work / "nginx", replicas, retry)
    events: list[dict] = []
    try:
        for r in replicas:
            r.start()
        nginx.start()
        with Load(nginx.port, clients, max_requests) as load:

            def mark(name: str, replica: int | None = None) -> None:
                events.append({"t": round(load.now(), 3), "event": name, "replica": replica})

            def planned_restart(i: int, model_dir: Path) -> None:
                nginx.set_down(i, True)
                replicas[i].stop()
                replicas[i].model_dir = model_dir
                replicas[i].start()
                nginx.set_down(i, False)

            time.sleep(hold)
            mark("sigkill", 0)
            killed_pid = replicas[0].process.pid
            replicas[0].sigkill()
            time.sleep(hold)
            replicas[0].start()
            mark("killed replica back", 0)
            time.sleep(hold)
            mark("restart", 1)
            planned_restart(1, v1)
            mark("restarted", 1)
            time.sleep(hold)
            mark("roll", None)
            for i in range(len(replicas)):
                planned_restart(i, v2)
                if set(replicas[i].versions().values()) != {version}:
                    raise RuntimeError(f"replica {i + 1} serves {replicas[i].versions()}")
                mark(f"replica {i + 1} on v{version}", i)
                time.sleep(hold / 2)
            time.sleep(hold)
            mark("end", None)
        final_versions = [r.versions() for r in replicas]
    finally:
        for r in replicas:
            r.stop()
        if hasattr(nginx, "process"):
            nginx.stop()
        shutil.rmtree(work, ignore_errors=True)
    return summarise(load.records, events, retry, final_versions, version, killed_pid, replicas)


PHASES = [
    ("steady", None, "sigkill"),
    ("sigkill", "sigkill", "restart"),
    ("restart", "restart", "roll"),
    ("roll", "roll", "end"),
]


def summarise(records, events, retry, final_versions, version, killed_pid, replicas) -> dict:
    at = {e["event"]: e["t"] for e in events}
    phases = {}
    for name, start, end in PHASES:
        lo, hi = at.get(start, 0.0), at[end]
        outcomes = [o for t, o in records if lo <= t < hi]
        failures: dict[str, int] = {}
        for o in outcomes:
            if o != "ok":
                failures[o] = failures.get(o, 0) + 1
        phases[name] = {
            "seconds": round(hi - lo, 2),
            "requests": len(outcomes),
            "failed": sum(failures.values()),
            "failures": failures,
        }
    total = len(records)
    failed = sum(1 for _, o in records if o != "ok")
    return {
        "retry": retry,
        "requests": total,
        "failed": failed,
        "failed_percent": round(100 * failed / total, 4) if total else None,
        "requests_per_second": round(total / at["end"], 1) if at.get("end") else None,
        "phases": phases,
        "events": events,
        "served_version_at_end": final_versions,
        "new_version": version,
        "killed_master_pid": killed_pid,
        "replica_starts": [r.starts for r in replicas],
        "seconds_to_ready": sorted(t for r in replicas for t in r.seconds_to_ready),
        "timeline": bucket(records, at["end"]),
    }


def bucket(records, end: float, width: float = 0.5) -> list[dict]:
    n = int(end / width) + 1
    ok, bad = [0] * n, [0] * n
    for t, o in records:
        i = min(int(t / width), n - 1)
        (ok if o == "ok" else bad)[i] += 1
    return [{"t": round(i * width, 2), "ok": ok[i], "failed": bad[i]} for i in range(n)]


def plot(report: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = report["runs"]
    fig, axes = plt.subplots(len(runs), 1, figsize=(9, 3.2 * len(runs)), sharex=True)
    for ax, run in zip(axes if len(runs) > 1 else [axes], runs, strict=True):
        width = run["timeline"][1]["t"] - run["timeline"][0]["t"] if len(run["timeline"]) > 1 else 1
        t = [b["t"] for b in run["timeline"]]
        ax.plot(t, [b["ok"] / width for b in run["timeline"]], label="answered (req/s)")
        ax.bar(
            t,
            [b["failed"] / width for b in run["timeline"]],
            width=width,
            color="red",
            label="failed (req/s)",
        )
        for e in run["events"]:
            ax.axvline(e["t"], color="grey", linestyle=":", linewidth=1)
            ax.text(e["t"], ax.get_ylim()[1] * 0.9, e["event"], rotation=90, fontsize=7, va="top")
        ax.set_title(
            f"nginx {'with' if run['retry'] else 'without'} retry: {run['failed']} failed of "
            f"{run['requests']:,}"
        )
        ax.set_ylabel("req/s")
        ax.legend(loc="lower left", fontsize=8)
    (axes[-1] if len(runs) > 1 else axes).set_xlabel("seconds")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def run(workers: int, clients: int, hold: float, max_requests: int) -> dict:
    if not Path(NGINX).is_file():
        raise SystemExit(f"{NGINX} not found: install Debian's nginx (apt-get install nginx)")
    return {
        "config": {
            "replicas": len(HOSTS),
            "workers_per_replica": workers,
            "clients": clients,
            "hold_s": hold,
            "max_requests": max_requests,
            "balancer": subprocess.run(
                [NGINX, "-v"], capture_output=True, text=True
            ).stderr.strip(),
            "endpoint": ENDPOINT,
            "cores": os.cpu_count(),
        },
        "runs": [scenario(retry, workers, clients, hold, max_requests) for retry in (True, False)],
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workers", type=int, default=1, help="Gunicorn workers per replica")
    parser.add_argument("--clients", type=int, default=8, help="concurrent client threads")
    parser.add_argument("--hold", type=float, default=3, help="seconds between the events")
    parser.add_argument(
        "--max-requests",
        type=int,
        default=500_000,
        help="stop the load after this many requests (a bound; normally not hit)",
    )
    parser.add_argument("--out", type=Path, default=OUT, help="results file (JSON; PNG beside)")
    args = parser.parse_args(argv)
    report = run(args.workers, args.clients, args.hold, args.max_requests)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    plot(report, args.out.with_suffix(".png"))
    for r in report["runs"]:
        print(
            f"retry={r['retry']}: {r['failed']} failed of {r['requests']} "
            + json.dumps({k: v["failed"] for k, v in r["phases"].items()})
        )


if __name__ == "__main__":
    main()
