from __future__ import annotations

import pytest

from mnist_serve.config import Settings, SettingsError, load_settings


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
    with pytest.raises(SettingsError, match="MNIST_SERVE_WORKERS='many' is not accepted"):
        load_settings()
    monkeypatch.setenv("MNIST_SERVE_WORKERS", "2")
    monkeypatch.setenv("MNIST_SERVE_LOG_LEVEL", "chatty")
    with pytest.raises(SettingsError, match="MNIST_SERVE_LOG_LEVEL='chatty'"):
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
    with pytest.raises(SettingsError, match="MNIST_SERVE_MAX_IMAGE_PIXELS"):
        load_settings()
