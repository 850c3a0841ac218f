"""Settings in one object, read from `MNIST_SERVE_*` environment variables.

The CLI turns its flags into the same variables, so Gunicorn workers (separate
processes) and the CLI always agree on one source of truth.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def default_model_dir() -> Path:
    """The repo's shipped `models/` for a source checkout, else `./models`."""
    shipped = PROJECT_ROOT / "models"
    return shipped if (shipped / "mlp").is_dir() else Path.cwd() / "models"


def default_workers() -> int:
    """Gunicorn's rule of thumb, (2 x cores) + 1, capped: inference is CPU-bound."""
    return min(2 * (os.cpu_count() or 1) + 1, 12)


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

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        levels = {"debug", "info", "warning", "error", "critical"}
        if value.lower() not in levels:
            raise ValueError(f"log_level must be one of {sorted(levels)}, got {value!r}")
        return value.lower()


def load_settings(**overrides: object) -> Settings:
    """Settings from the environment, with explicit overrides (tests, CLI) on top."""
    return Settings(**overrides)  # type: ignore[arg-type]
