"""How a Gunicorn worker ends: stop its poller, flush its logs, and leave without finalizers.

A worker forked from a master that loaded ONNX Runtime cannot run ONNX Runtime's C++ teardown:
it waits on threads that exist only in the master (the worker hangs until Gunicorn kills it
after `graceful_timeout`, so every recycle and every stop took 10 s) or, with a thread of its
own, aborts. Nothing in a worker needs finalizing (metric files are shared memory maps, sockets
close with the process), so a worker that served leaves with `os._exit`.
"""

from __future__ import annotations

import logging
import os
import sys

from mnist_serve import rollout


def finish_worker(worker: object) -> None:
    """Gunicorn's `worker_exit`, in the worker: a clean, immediate exit after a served life."""
    if getattr(worker, "pid", None) != os.getpid():
        return  # the master calls this hook too, for a worker it found already gone
    rollout.stop_watching(getattr(worker, "wsgi", None))
    if not getattr(worker, "booted", False):
        return  # a boot failure keeps its exit code: the master halts on it
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    os._exit(0)
