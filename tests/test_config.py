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


def test_image_limits_have_safe_defaults_and_come_from_the_environment(monkeypatch):
    for key in ("MNIST_SERVE_MAX_IMAGE_BYTES", "MNIST_SERVE_MAX_IMAGE_PIXELS"):
        monkeypatch.delenv(key, raising=False)
    settings = Settings()
    assert settings.max_image_bytes == 10 * 1024 * 1024
    assert settings.max_image_pixels == 4096 * 4096
    monkeypatch.setenv("MNIST_SERVE_MAX_IMAGE_BYTES", "65536")
    monkeypatch.setenv("MNIST_SERVE_MAX_IMAGE_PIXELS", "250000")
    settings = load_settings()
    assert (settings.max_image_bytes, settings.max_image_pixels) == (65536, 250000)
    # Beyond Pillow's own decompression-bomb guard: refused, naming the key.
    monkeypatch.setenv("MNIST_SERVE_MAX_IMAGE_PIXELS", str(100_000_000))
    with pytest.raises(ValidationError, match="max_image_pixels"):
        load_settings()


def test_precision_is_int8_by_default_and_checked(monkeypatch):
    monkeypatch.delenv("MNIST_SERVE_PRECISION", raising=False)
    assert load_settings().precision == "int8"
    monkeypatch.setenv("MNIST_SERVE_PRECISION", "fp32")
    assert load_settings().precision == "fp32"
    monkeypatch.setenv("MNIST_SERVE_PRECISION", "fp8")
    with pytest.raises(ValidationError, match="precision"):
        load_settings()
