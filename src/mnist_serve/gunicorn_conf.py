"""Gunicorn settings, from the same `Settings` object as everything else.

Models load once in the master, before the fork (`preload_app`, MNIST_SERVE_PRELOAD, default
on): measured by benchmarks/preload_memory.py, it cuts the memory of 4 workers by about 60% and
the time to ready by about 40%, with identical answers. It is safe here because each ONNX
Runtime session is single-threaded (no thread pool to lose in the fork); the price is that
reloading code needs a restart rather than a HUP.
"""

from mnist_serve import logs, metrics
from mnist_serve.startup import check_bind_free, settings_or_exit

# A bad MNIST_SERVE_* value or a taken port: one line and a non-zero exit, not a traceback.
_settings = settings_or_exit()
check_bind_free(_settings.bind)

bind = _settings.bind
workers = _settings.workers
threads = _settings.threads
# gevent by default (MNIST_SERVE_WORKER_CLASS=auto): a connection is a greenlet, so clients
# that trickle headers or bodies cannot occupy a worker (6 of them froze 5 sync workers);
# gthread when threads > 1; sync only behind a buffering proxy (deploy/nginx/).
worker_class = _settings.gunicorn_worker_class()
# Connections per gevent worker; beyond this, slow clients wait in the listen backlog.
worker_connections = 1000
timeout = _settings.timeout
graceful_timeout = 10
# Keep-alive off by default: kept-alive gevent connections stick to one worker (p99 > 1 s).
keepalive = _settings.keepalive
# HTTPS when MNIST_SERVE_CERTFILE and MNIST_SERVE_KEYFILE are set (both or neither).
certfile = str(_settings.certfile) if _settings.certfile else None
keyfile = str(_settings.keyfile) if _settings.keyfile else None
preload_app = _settings.preload
# Recycle workers now and then so a slow leak never becomes an outage; jitter avoids a herd.
max_requests = 100_000
max_requests_jitter = 10_000
# Reject absurd request lines and headers before Flask sees them.
limit_request_line = 4094
limit_request_fields = 100
limit_request_field_size = 8190
loglevel = _settings.log_level
accesslog = "-" if _settings.access_log else None
errorlog = "-"
proc_name = "mnist-serve"
# No control socket: unused here, and its default path would collide between servers.
control_socket_disable = True


# --- Observability and model rollout (issue 10): hooks call plain functions. ---------------
if _settings.metrics:
    # Before anything imports prometheus_client: it picks its storage at import time.
    metrics.prepare_multiprocess_dir()
if _settings.log_format == "json":
    logconfig_dict = logs.gunicorn_logconfig(_settings.log_level, _settings.access_log)


def post_worker_init(worker):
    """In each worker, after the app is loaded (and gevent has patched threading)."""
    from mnist_serve import rollout

    rollout.ensure_watching(worker.wsgi)


def worker_exit(server, worker):
    from mnist_serve import lifecycle

    lifecycle.finish_worker(worker)


def child_exit(server, worker):
    metrics.worker_exited(worker.pid)


def on_exit(server):
    metrics.remove_multiprocess_dir()
