"""Operator-facing start-up checks: one line saying what is wrong and what to do, then exit.

Shared by `mnist-serve serve` and plain `gunicorn -c python:mnist_serve.gunicorn_conf ...`, so
both fail the same way. Tracebacks only at debug level (MNIST_SERVE_LOG_LEVEL=debug).
"""

from __future__ import annotations

import errno
import logging
import os
import socket
import sys
from typing import NoReturn

from mnist_serve.config import Settings, SettingsError, process_settings

# Gunicorn's exit status for "the application could not be loaded": the master stops rather
# than forking workers that would fail the same way forever.
APP_LOAD_ERROR = 4
BAD_SETTING = 2


def fail(message: str, status: int = BAD_SETTING) -> NoReturn:
    print(f"mnist-serve: error: {message}", file=sys.stderr, flush=True)
    raise SystemExit(status)


def settings_or_exit() -> Settings:
    """This process's settings (the object the preloaded app reads too), or one line and exit."""
    try:
        return process_settings()
    except SettingsError as exc:
        fail(str(exc))


def _debug() -> bool:
    return os.environ.get("MNIST_SERVE_LOG_LEVEL", "").lower() == "debug"


def check_bind_free(bind: str) -> None:
    """Refuse early, in one line, when the port is taken (Gunicorn retries for 5 s, then logs
    ten lines). Skipped when Gunicorn inherits its sockets (USR2 upgrade, systemd)."""
    if bind.startswith("unix:") or "GUNICORN_FD" in os.environ or "LISTEN_FDS" in os.environ:
        return
    if _bind_given_to_gunicorn():  # `gunicorn --bind ...` (the seed's command) wins over ours
        return
    host, _, port = bind.rpartition(":")
    host = host.strip("[]")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((host, int(port)))
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            fail(
                f"MNIST_SERVE_BIND={bind}: port {port} is already in use by another program; "
                f"pick a free one, e.g. MNIST_SERVE_BIND={host or '0.0.0.0'}:{int(port) + 1} "
                f"(or `mnist-serve serve --bind {host or '0.0.0.0'}:{int(port) + 1}`)"
            )
        if isinstance(exc, socket.gaierror) or exc.errno in (errno.EADDRNOTAVAIL, errno.EACCES):
            fail(
                f"MNIST_SERVE_BIND={bind}: cannot listen there ({exc.strerror or exc}); "
                "use an address of this machine, e.g. 127.0.0.1:8887 or 0.0.0.0:8887"
            )
        raise


def _bind_given_to_gunicorn() -> bool:
    args = [*sys.argv[1:], *os.environ.get("GUNICORN_CMD_ARGS", "").split()]
    return any(a.startswith(("-b", "--bind")) for a in args)


def artifact_failure(exc: BaseException) -> NoReturn:
    """A missing or altered model artifact: one line, the traceback only at debug level."""
    logging.getLogger("gunicorn.error").debug("model loading failed", exc_info=exc)
    if _debug():
        import traceback

        traceback.print_exception(exc, file=sys.stderr)
    fail(
        f"cannot load the models: {exc} (fix or restore the file, or point "
        "MNIST_SERVE_MODEL_DIR at a folder with a valid manifest.json)",
        APP_LOAD_ERROR,
    )
