from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from mnist_serve.config import Settings, SettingsError, load_settings
from tests.conftest import EXAMPLE, MODELS, ROOT


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


def test_the_mnist_mirror_is_a_setting_the_download_uses(monkeypatch, tmp_path):
    from mnist_serve.data import load_mnist
    from mnist_serve.errors import DataError

    monkeypatch.delenv("MNIST_SERVE_MNIST_MIRROR", raising=False)
    assert Settings().mnist_mirror.startswith("https://")
    monkeypatch.setenv("MNIST_SERVE_MNIST_MIRROR", "http://127.0.0.1:9/mnist/")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))  # an empty cache: it must download
    assert load_settings().mnist_mirror == "http://127.0.0.1:9/mnist/"
    with pytest.raises(DataError, match=r"http://127\.0\.0\.1:9/mnist/"):
        load_mnist()


def test_settings_are_read_once_per_process(monkeypatch):
    from mnist_serve.config import process_settings

    process_settings.cache_clear()
    try:
        monkeypatch.setenv("MNIST_SERVE_MAX_BATCH", "7")
        first = process_settings()
        monkeypatch.setenv("MNIST_SERVE_MAX_BATCH", "8")
        assert process_settings() is first and first.max_batch == 7
    finally:
        process_settings.cache_clear()


def installed_copy(tmp_path: Path) -> Path:
    """The package as `pip install .` lays it out (site-packages/mnist_serve, no checkout
    around it), ahead of the editable install on the path."""
    site = tmp_path / "site-packages"
    shutil.copytree(ROOT / "src" / "mnist_serve", site / "mnist_serve")
    return site


def run_installed(site: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MNIST_SERVE_")}
    env["PYTHONPATH"] = str(site)
    return subprocess.run(
        [sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )


def test_an_installed_package_never_points_into_site_packages(tmp_path):
    site = installed_copy(tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    code = (
        "import mnist_serve, mnist_serve.config as c; "
        "print(mnist_serve.__file__); print(c.source_checkout()); print(c.PROJECT_ROOT)"
    )
    result = run_installed(site, elsewhere, "-c", code)
    assert result.returncode == 0, result.stderr
    package, checkout, root = result.stdout.split()
    assert package.startswith(str(site))
    assert (checkout, root) == ("None", ".")


def test_an_installed_package_serves_models_from_the_working_directory(tmp_path):
    site = installed_copy(tmp_path)
    work = tmp_path / "work"
    shutil.copytree(MODELS, work / "models")
    result = run_installed(site, work, "-m", "mnist_serve.cli", "predict", str(EXAMPLE))
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    assert answer["mlp"]["predicted_number"] == answer["xgboost"]["predicted_number"] == 5


def test_precision_is_int8_by_default_and_checked(monkeypatch):
    monkeypatch.delenv("MNIST_SERVE_PRECISION", raising=False)
    assert load_settings().precision == "int8"
    monkeypatch.setenv("MNIST_SERVE_PRECISION", "fp32")
    assert load_settings().precision == "fp32"
    monkeypatch.setenv("MNIST_SERVE_PRECISION", "fp8")
    with pytest.raises(SettingsError, match="MNIST_SERVE_PRECISION='fp8'"):
        load_settings()
