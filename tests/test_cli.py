"""The `mnist-serve` console script, run as a user runs it."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import EXAMPLE, MODELS, ROOT, SHARED_MNIST, version_one_repository
from tests.drawing import draw_digit, encode, truncated_png


def cli(*args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "mnist_serve.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
    )


def test_predict_classifies_the_example():
    result = cli("predict", str(EXAMPLE))
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    assert answer["mlp"]["predicted_number"] == 5
    assert answer["xgboost"]["predicted_number"] == 5


def test_predict_reports_bad_input_without_a_traceback(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"image_vector": [1, 2]}')
    result = cli("predict", str(bad))
    assert result.returncode == 2
    assert "2 elements" in result.stderr
    assert "Traceback" not in result.stderr


def test_bench_writes_json_and_plot(tmp_path):
    out = tmp_path / "inference.json"
    result = cli("bench", "--trials", "50", "--batch", "16", "--out", str(out))
    assert result.returncode == 0, result.stderr
    report = json.loads(out.read_text())
    assert set(report["models"]) == {"mlp", "xgboost"}
    for model in report["models"].values():
        assert model["predicted_number"] == 5
        assert (
            model["single"]["min_us"] <= model["single"]["median_us"] <= model["single"]["max_us"]
        )
        assert model["batched"]["batch"] == 16
    assert out.with_suffix(".png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_train_without_data_or_network_says_how_to_pass_data_dir(tmp_path):
    env_mirror = "http://127.0.0.1:9/"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mnist_serve.cli",
            "train",
            "--mirror",
            env_mirror,
            "--out-dir",
            str(tmp_path / "m"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        env={"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 2
    assert "--data-dir" in result.stderr
    assert not (tmp_path / "m").exists() or not any((tmp_path / "m").iterdir())


def test_serve_refuses_a_missing_model_dir(tmp_path):
    result = cli("serve", "--model-dir", str(tmp_path), "--bind", "127.0.0.1:0")
    assert result.returncode == 2
    assert "<name>/<version>/model.json" in result.stderr


def test_serve_refuses_a_repository_without_a_valid_version(tmp_path):
    models = version_one_repository(tmp_path)
    onnx = models / "xgboost" / "1" / "xgboost.onnx"
    onnx.write_bytes(onnx.read_bytes() + b"x")
    result = cli("serve", "--model-dir", str(models), "--bind", "127.0.0.1:0")
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()  # one line, no traceback
    assert "no valid version of xgboost" in line and "xgboost/1/xgboost.onnx has sha256" in line


def test_evaluate_holds_the_shipped_models_to_their_model_json(tmp_path):
    shared = ROOT.parent / "shared" / "mnist"
    if not shared.is_dir():
        pytest.skip("no ../shared/mnist here")
    result = cli("evaluate", "--data-dir", str(shared), "--model-dir", str(MODELS))
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert report["ok"] is True
    assert report["test_rows"] == 10_000


def test_predict_classifies_an_image_file_like_the_endpoint(tmp_path):
    image = tmp_path / "seven.png"
    image.write_bytes(encode(draw_digit(7, size=240, stroke=24, canvas=(640, 480))))
    result = cli("predict", str(image), "--show")
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    assert answer["mlp"]["predicted_number"] == 7
    assert answer["xgboost"]["predicted_number"] == 7
    assert answer["image"] == {"format": "PNG", "width": 640, "height": 480, "inverted": True}
    assert len(answer["image_vector"]) == 28
    # --show draws the 28x28 the models saw: 28 lines of 56 characters, ink as '@'.
    drawing = result.stderr.splitlines()
    assert len(drawing) == 28 and all(len(line) == 56 for line in drawing)
    assert "@" in result.stderr


def test_predict_sniffs_an_image_whatever_its_name(tmp_path):
    unnamed = tmp_path / "upload.bin"
    unnamed.write_bytes(encode(draw_digit(1, size=100, stroke=10), "JPEG"))
    result = cli("predict", str(unnamed))
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["image"]["format"] == "JPEG"


def test_predict_reports_a_bad_image_without_a_traceback(tmp_path):
    cut = tmp_path / "cut.png"
    cut.write_bytes(truncated_png())
    result = cli("predict", str(cut))
    assert result.returncode == 2
    assert "truncated or corrupt" in result.stderr
    assert "Traceback" not in result.stderr


def test_robustness_writes_json_and_plot(tmp_path):
    if not SHARED_MNIST.is_dir():
        pytest.skip("no ../shared/mnist here")
    out = tmp_path / "robustness.json"
    result = cli("robustness", "--data-dir", str(SHARED_MNIST), "--limit", "10", "--out", str(out))
    assert result.returncode in (0, 1), result.stderr
    report = json.loads(out.read_text())
    assert report["images"] == 10
    assert (result.returncode == 0) == report["ok"]
    assert "png_420px_large" in result.stdout
    assert out.with_suffix(".png").is_file()


def test_every_option_of_every_command_has_help_text():
    from mnist_serve.cli import build_parser

    parser = build_parser()
    (subparsers,) = [a for a in parser._actions if a.dest == "command"]
    missing = [
        f"{name} {'/'.join(action.option_strings) or action.dest}"
        for name, sub in subparsers.choices.items()
        for action in sub._actions
        if not action.help and action.dest != "help"
    ]
    assert missing == []
    # And every command has its one-line summary in `mnist-serve --help`.
    assert all(a.help for a in subparsers._choices_actions)
