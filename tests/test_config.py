from __future__ import annotations

import pytest
from pydantic import ValidationError

from mnist_serve.config import Settings, load_settings


def test_defaults_follow_the_seed(monkeypatch):
    for key in ("MNIST_SERVE_BIND", "MNIST_SERVE_MAX_BODY_BYTES"):
        monkeypatch.delenv(key, raising=False)
    settings = Settings()
    assert settings.bind == "0.0.0.0:8887"
    assert settings.max_body_bytes == 1024 * 1024
    assert settings.workers >= 1


def test_environment_overrides(monkeypatch):
    monkeypatch.setenv("MNIST_SERVE_WORKERS", "3")
    monkeypatch.setenv("MNIST_SERVE_MAX_BATCH", "10")
    settings = load_settings()
    assert (settings.workers, settings.max_batch) == (3, 10)


def test_bad_value_fails_loudly_naming_the_key(monkeypatch):
    monkeypatch.setenv("MNIST_SERVE_WORKERS", "many")
    with pytest.raises(ValidationError, match="workers"):
        load_settings()
    monkeypatch.setenv("MNIST_SERVE_WORKERS", "2")
    monkeypatch.setenv("MNIST_SERVE_LOG_LEVEL", "chatty")
    with pytest.raises(ValidationError, match="log_level"):
        load_settings()
