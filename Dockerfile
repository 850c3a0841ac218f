# The serving image: Flask + Gunicorn + ONNX Runtime and the shipped models; no training stack.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    MNIST_SERVE_MODEL_DIR=/app/models \
    MNIST_SERVE_BIND=0.0.0.0:8887

WORKDIR /app
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip install . && useradd --system --no-create-home mnist
COPY models ./models
COPY examples ./examples

USER mnist
EXPOSE 8887
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s \
    CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8887/health/ready', timeout=2)"
# Settings come from MNIST_SERVE_* variables (e.g. -e MNIST_SERVE_WORKERS=4), read by the config module.
CMD ["gunicorn", "--config", "python:mnist_serve.gunicorn_conf", "mnist_serve.wsgi:app"]
