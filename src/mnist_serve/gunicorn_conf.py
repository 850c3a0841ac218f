"""Gunicorn settings, from the same `Settings` object as everything else.

Models load per worker, after the fork (`preload_app = False`): an ONNX Runtime session is
not fork-safe, and the artifacts are small (load + warm-up is well under a second), so
preloading would save little memory for a real risk.
"""

from mnist_serve.config import load_settings

_settings = load_settings()

bind = _settings.bind
workers = _settings.workers
threads = _settings.threads
# Sync workers for one thread; gthread (keep-alive capable) when threads > 1.
worker_class = "gthread" if _settings.threads > 1 else "sync"
timeout = _settings.timeout
graceful_timeout = 10
keepalive = 5
preload_app = False
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
