# The serving image: Flask + Gunicorn + ONNX Runtime and the shipped models; no training stack.
# Two stages: `build` makes a virtualenv, the runtime stage copies only that venv and the models
# (no pip cache, no compilers, no source tree). tests/test_docker_image.py runs these same RUN
# lines in a fresh venv, as a non-root user with a read-only model folder, and starts the server.

# ---- build: the serving dependencies in /opt/venv ----
FROM python:3.11-slim AS build

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VENV=/opt/venv

WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
RUN python -m venv "$VENV" && "$VENV/bin/python" -m pip install --no-compile .

# ---- runtime: the venv, the models (read-only), a numeric non-root user ----
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/venv/bin:$PATH \
    MNIST_SERVE_MODEL_DIR=/app/models \
    MNIST_SERVE_BIND=0.0.0.0:8887

COPY --from=build /opt/venv /opt/venv
# Owned by root, not writable by the server's user: a compromised worker cannot swap a model.
COPY --chown=0:0 --chmod=0555 models /app/models
COPY --chown=0:0 --chmod=0555 examples /app/examples

WORKDIR /app
# A numeric UID/GID (no /etc/passwd entry needed): Kubernetes' runAsNonRoot can verify it.
USER 10001:10001
EXPOSE 8887
# Exec form. `mnist-serve healthcheck` reads the server's own MNIST_SERVE_* settings, so it follows
# `-e MNIST_SERVE_BIND=...` (IPv4, [IPv6], unix:PATH) and speaks HTTPS when MNIST_SERVE_CERTFILE is
# set; it exits 0 when /health/ready answers 200, else 1 with one line saying why.
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
    CMD ["mnist-serve", "healthcheck", "--timeout", "2"]
# Settings come from MNIST_SERVE_* variables (e.g. -e MNIST_SERVE_WORKERS=4), read by the config
# module; the worker class and slow-client protection are the server's defaults (gunicorn_conf).
CMD ["gunicorn", "--config", "python:mnist_serve.gunicorn_conf", "mnist_serve.wsgi:app"]
