"""Run the shipped deploy/nginx/mnist-serve.conf with the system's nginx, unprivileged paths.

Everything nginx writes (pid, logs, temp files) goes under one folder; it listens on a
loopback port and proxies to a Gunicorn unix socket in the same folder. Only the socket path
and the listen line of the shipped file are replaced, so what is tested is what ships.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SITE = ROOT / "deploy" / "nginx" / "mnist-serve.conf"
SHIPPED_SOCKET = "unix:/run/mnist-serve/gunicorn.sock"
SHIPPED_LISTEN = "listen 80 deferred;"


def nginx_binary() -> str | None:
    return shutil.which("nginx") or (
        "/usr/sbin/nginx" if os.access("/usr/sbin/nginx", os.X_OK) else None
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class NginxFront:
    """`with NginxFront(folder, socket_path) as front: front.url ...`"""

    def __init__(self, folder: Path, upstream_socket: Path) -> None:
        binary = nginx_binary()
        if binary is None:
            raise RuntimeError("nginx is not installed (Debian/Ubuntu: apt-get install nginx)")
        self.binary, self.folder = binary, folder
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        site = SITE.read_text()
        assert SHIPPED_SOCKET in site and SHIPPED_LISTEN in site, "deploy/nginx changed shape"
        site = site.replace(SHIPPED_SOCKET, f"unix:{upstream_socket}")
        site = site.replace(SHIPPED_LISTEN, f"listen 127.0.0.1:{self.port};")
        (folder / "site.conf").write_text(site)
        temp = "\n".join(
            f"  {kind}_temp_path {folder}/{kind};"
            for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
        )
        # As root, nginx's workers would drop to `nobody`, who cannot reach a private folder.
        user = "user root;\n" if os.geteuid() == 0 else ""
        (folder / "nginx.conf").write_text(
            f"{user}daemon off;\nworker_processes 1;\npid {folder}/nginx.pid;\n"
            f"error_log {folder}/error.log warn;\n"
            "events { worker_connections 1024; }\n"
            f"http {{\n  access_log off;\n{temp}\n  include {folder}/site.conf;\n}}\n"
        )

    def __enter__(self) -> NginxFront:
        self.process = subprocess.Popen(
            [
                self.binary,
                "-p",
                str(self.folder),
                "-e",
                str(self.folder / "error.log"),
                "-c",
                str(self.folder / "nginx.conf"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"nginx exited: {self.process.stderr.read().decode()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return self
            except OSError:
                time.sleep(0.05)
        self.__exit__()
        raise RuntimeError("nginx did not listen within 30 s")

    def __exit__(self, *exc: object) -> None:
        self.process.terminate()  # SIGTERM: nginx's fast shutdown
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process.stderr.close()
