"""Rollout without a restart: every worker polls the model repository and swaps in new versions.

Each worker runs one daemon thread (a greenlet under gevent, whose monkey-patching makes
`threading` cooperative) that calls `ModelRegistry.refreshed` every `interval` seconds. A new
registry replaces `app.extensions["mnist_registry"]` in one assignment; a request that already
took the old registry (or one of its models) finishes on it. Threads do not survive `fork`, so
the thread starts in the worker (Gunicorn's `post_worker_init`, or lazily on its first request),
never in the master that preloads the app.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable

from flask import Flask

from mnist_serve.errors import ArtifactError
from mnist_serve.runtime import ModelRegistry

log = logging.getLogger("mnist_serve.models")

EXTENSION = "mnist_rollout"
SwapListener = Callable[[ModelRegistry | None, ModelRegistry], None]


class RepositoryWatcher:
    """Polls one app's repository; `poll_once` is the whole rollout step (tests call it)."""

    def __init__(self, app: Flask, interval: float, on_swap: SwapListener | None = None) -> None:
        self.app = app
        self.interval = interval
        self.on_swap = on_swap
        self.pid = os.getpid()
        self._stop = threading.Event()
        self._last_error = ""
        self.started = False
        self.thread: threading.Thread | None = None

    def start(self) -> None:
        if self.on_swap is not None:
            self.on_swap(None, self.app.extensions["mnist_registry"])
        if self.interval > 0:
            self.thread = threading.Thread(
                target=self._run, name="mnist-serve-model-poller", daemon=True
            )
            self.thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Before the worker exits: a thread left running aborts ONNX Runtime's teardown."""
        self._stop.set()
        if self.thread is not None and self.thread is not threading.current_thread():
            self.thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.poll_once()
            except Exception as exc:  # the poller must outlive any surprise on disk
                log.error("model repository poll failed: %s", exc, exc_info=log.isEnabledFor(10))

    def poll_once(self) -> bool:
        """Load what changed and swap it in; True when the served registry changed."""
        current: ModelRegistry = self.app.extensions["mnist_registry"]
        try:
            fresh, events = current.refreshed()
        except ArtifactError as exc:
            if str(exc) != self._last_error:  # one line per problem, not one per poll
                log.error("model repository: %s; still serving what is loaded", exc)
            self._last_error = str(exc)
            return False
        self._last_error = ""
        for event in events:
            (log.warning if "refused" in event or "no valid" in event else log.info)("%s", event)
        if fresh is current:
            return False
        self.app.extensions["mnist_registry"] = fresh
        if self.on_swap is not None:
            self.on_swap(current, fresh)
        return True


def init_app(app: Flask, interval: float, on_swap: SwapListener | None = None) -> None:
    """Arrange for the watcher to start in whichever process serves requests."""
    registry: ModelRegistry = app.extensions["mnist_registry"]
    if registry.model_dir is None:  # built by hand (tests): nothing on disk to watch
        return
    app.extensions[EXTENSION] = RepositoryWatcher(app, interval, on_swap)

    @app.before_request
    def _start_in_this_process() -> None:
        watcher = app.extensions.get(EXTENSION)
        if watcher is not None and (not watcher.started or watcher.pid != os.getpid()):
            ensure_watching(app)


def ensure_watching(app: object) -> RepositoryWatcher | None:
    """Start the watcher once per process (call from Gunicorn's `post_worker_init`)."""
    extensions = getattr(app, "extensions", None)
    watcher = extensions.get(EXTENSION) if extensions is not None else None
    if watcher is None:
        return None
    with _start_lock:
        watcher = extensions[EXTENSION]
        if watcher.pid != os.getpid():  # inherited from the master through fork: a fresh one
            watcher = extensions[EXTENSION] = RepositoryWatcher(
                watcher.app, watcher.interval, watcher.on_swap
            )
        if not watcher.started:
            watcher.started = True
            watcher.start()
    return watcher


def stop_watching(app: object) -> None:
    """Stop this process's watcher, if it runs (call from Gunicorn's `worker_exit`)."""
    extensions = getattr(app, "extensions", None)
    watcher = extensions.get(EXTENSION) if extensions is not None else None
    if watcher is not None and watcher.pid == os.getpid():
        watcher.stop()


_start_lock = threading.Lock()
