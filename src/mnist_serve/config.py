"""Settings in one object, read from `MNIST_SERVE_*` environment variables.

The CLI turns its flags into the same variables, so Gunicorn workers (separate
processes) and the CLI always agree on one source of truth.
"""

from __future__ import annotations

import os
import re
from functools import lru_cache
from pathlib import Path
from typing import Literal, get_args

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


def source_checkout() -> Path | None:
    """The repository this module runs from (editable install or `src/` on the path), else None:
    under a normal `pip install .` this file sits in site-packages, which is no project root."""
    root = Path(__file__).resolve().parents[2]
    is_checkout = (root / "pyproject.toml").is_file() and (root / "src" / "mnist_serve").is_dir()
    return root if is_checkout else None


# The source checkout, or (installed package) the working directory, as a relative path so it
# resolves wherever the command runs: CLI defaults such as `models/` and `benchmarks/results/`.
PROJECT_ROOT = source_checkout() or Path(".")


def default_model_dir() -> Path:
    """The repo's shipped `models/` for a source checkout, else `./models`."""
    shipped = PROJECT_ROOT / "models"
    return shipped if (shipped / "mlp").is_dir() else Path.cwd() / "models"


WorkerClass = Literal["auto", "gevent", "sync", "gthread"]
WORKER_CLASSES = get_args(WorkerClass)


def default_workers() -> int:
    """One worker per core, capped: inference is CPU-bound, so more workers than cores only
    queue behind each other (issue 9: on 2 cores, 5 sync workers doubled p99 at the same
    throughput; benchmarks/serving_options.py measures the counts)."""
    return min(os.cpu_count() or 1, 12)


class Settings(BaseSettings):
    """Every knob of the server; each field is `MNIST_SERVE_<NAME>` in the environment."""

    model_config = SettingsConfigDict(env_prefix="MNIST_SERVE_", extra="ignore")

    model_dir: Path = Field(default_factory=default_model_dir)
    """The model repository: `<model_dir>/<name>/<version>/model.json` plus artifacts."""

    precision: Literal["int8", "fp32"] = "int8"
    """Which artifact of a model that ships several: the int8 MLP (default, checked at export
    against the float model) or its float32 original for exact parity with Keras. Models with
    one artifact (XGBoost) ignore it."""

    bind: str = "0.0.0.0:8887"
    """Address Gunicorn listens on (the seed's default)."""

    workers: int = Field(default_factory=default_workers, ge=1, le=64)
    """Gunicorn worker processes."""

    threads: int = Field(default=1, ge=1, le=64)
    """Threads per worker (>1 switches Gunicorn to its gthread worker, with keep-alive)."""

    preload: bool = True
    """Load and verify the models once in Gunicorn's master, before forking the workers: less
    memory and a faster start (benchmarks/preload_memory.py). Safe because every ONNX Runtime
    session runs single-threaded, so no thread is lost in the fork."""

    timeout: int = Field(default=30, ge=1)
    """Seconds before Gunicorn restarts a silent worker."""

    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    """Largest request body accepted; bigger bodies get 413."""

    max_batch: int = Field(default=256, ge=1, le=65536)
    """Most images accepted in one request."""

    max_image_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)
    """Largest image file accepted by `/predict/image` (raw body or multipart); bigger gets 413."""

    max_image_pixels: int = Field(default=4096 * 4096, ge=1, le=89_478_485)
    """Largest declared image size (width x height) decoded; bigger gets 413 before decoding."""

    log_level: str = "info"
    """Gunicorn log level."""

    access_log: bool = False
    """Write one access-log line per request (costs throughput under load)."""

    mnist_mirror: str = "https://ossci-datasets.s3.amazonaws.com/mnist/"
    """Base URL MNIST is downloaded from when no `--data-dir`/`--mirror` is given (sha256-checked)."""

    metrics: bool = True
    """Serve Prometheus metrics at `/metrics`, exact across workers (off: no route, no cost)."""

    log_format: Literal["text", "json"] = "text"
    """`json`: every line the server writes (Gunicorn, access log, the app) is one JSON object."""

    model_poll_seconds: float = Field(default=2.0, ge=0, le=3600)
    """How often each worker looks for new model versions in `model_dir` (0: never)."""

    worker_class: WorkerClass = "auto"
    """Gunicorn worker class. `auto`: gevent (one greenlet per connection, so slow clients
    cannot hold a worker), or gthread when threads > 1. `sync` only behind a buffering proxy
    such as deploy/nginx/."""

    keepalive: int = Field(default=0, ge=0, le=300)
    """Seconds an idle keep-alive connection stays open; 0 closes after each response. Off by
    default: with gevent a kept-alive connection sticks to one worker and starves the others
    (p99 above 1 s in the measurements of issue 9)."""

    tcp_cork: bool = True
    """gevent with keep-alive off (Linux): send each response's headers, body and FIN as one TCP
    segment instead of three (fewer wake-ups of the client; see `workers.py`)."""

    api_token: SecretStr | None = None
    """When set, inference endpoints need `Authorization: Bearer <token>`; health stays open."""

    api_token_file: Path | None = None
    """A file holding the token (a mounted secret); its surrounding whitespace is ignored."""

    certfile: Path | None = None
    """TLS certificate (PEM) for Gunicorn to serve HTTPS; needs `keyfile` too."""

    keyfile: Path | None = None
    """TLS private key (PEM) matching `certfile`."""

    @field_validator("bind")
    @classmethod
    def _valid_bind(cls, value: str) -> str:
        if value.startswith("unix:") and len(value) > len("unix:"):
            return value
        match = re.fullmatch(r"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})", value)
        if match is None or int(match.group(2)) > 65535:
            raise ValueError("expected host:port (port 0-65535), e.g. 127.0.0.1:8887, or unix:PATH")
        return value

    @field_validator("api_token_file", "certfile", "keyfile")
    @classmethod
    def _readable_file(cls, value: Path | None) -> Path | None:
        if value is not None and not os.access(value, os.R_OK):
            raise ValueError("expected the path of a readable file")
        return value

    @field_validator("api_token")
    @classmethod
    def _non_empty_token(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value().strip():
            raise ValueError("expected a non-empty token (unset the variable to turn auth off)")
        return value

    @model_validator(mode="after")
    def _pairs(self) -> Settings:
        if self.api_token is not None and self.api_token_file is not None:
            raise ValueError("set MNIST_SERVE_API_TOKEN or MNIST_SERVE_API_TOKEN_FILE, not both")
        if (self.certfile is None) != (self.keyfile is None):
            raise ValueError("TLS needs both MNIST_SERVE_CERTFILE and MNIST_SERVE_KEYFILE")
        return self

    def token(self) -> str | None:
        """The bearer token from the variable or the file, or None when auth is off."""
        if self.api_token is not None:
            return self.api_token.get_secret_value().strip()
        if self.api_token_file is not None:
            token = self.api_token_file.read_text().strip()
            if not token:
                raise SettingsError(
                    f"MNIST_SERVE_API_TOKEN_FILE={self.api_token_file}: the file is empty; "
                    "put the token in it"
                )
            return token
        return None

    def gunicorn_worker_class(self) -> str:
        """What Gunicorn runs: gevent is this project's subclass (`workers.GeventWorker`)."""
        name = self.worker_class
        if name == "auto":
            name = "gthread" if self.threads > 1 else "gevent"
        return "mnist_serve.workers.GeventWorker" if name == "gevent" else name

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        levels = {"debug", "info", "warning", "error", "critical"}
        if value.lower() not in levels:
            raise ValueError(f"log_level must be one of {sorted(levels)}, got {value!r}")
        return value.lower()


class SettingsError(ValueError):
    """A bad MNIST_SERVE_* value, as one line an operator can act on."""


def load_settings(**overrides: object) -> Settings:
    """Settings from the environment, with explicit overrides (tests, CLI) on top."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        raise SettingsError(describe_validation_error(exc)) from None


def describe_validation_error(exc: ValidationError) -> str:
    """One line: the variable, the value given and what is accepted (not pydantic's field)."""
    parts = []
    for error in exc.errors(include_url=False):
        message = str(error["msg"]).removeprefix("Value error, ")
        if not error["loc"]:  # a rule across fields: its message names the variables
            parts.append(message)
            continue
        variable = "MNIST_SERVE_" + str(error["loc"][0]).upper()
        value = error.get("input")
        shown = "<hidden>" if variable == "MNIST_SERVE_API_TOKEN" else repr(value)
        parts.append(f"{variable}={shown} is not accepted: {message}")
    return "; ".join(parts)


@lru_cache(maxsize=1)
def process_settings() -> Settings:
    """This process's settings from the environment, read once: Gunicorn's config and the app
    it preloads share one object instead of each reading the environment again."""
    return load_settings()
