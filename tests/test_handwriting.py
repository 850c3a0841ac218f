"""`mnist-serve handwriting`: real digits from another data set through the image path."""

from __future__ import annotations

import io
import json

import numpy as np
from PIL import Image

from mnist_serve import handwriting
from mnist_serve.cli import main
from tests.conftest import MODELS


def test_digits_come_from_the_installed_package_and_become_pngs():
    counts, labels = handwriting.load_optdigits()
    assert counts.shape == (1797, 8, 8) and counts.max() == 16
    assert sorted(set(labels.tolist())) == list(range(10))
    png = handwriting.as_png(counts[0])
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG" and image.size == (32, 32)
    grey = np.asarray(image)
    assert grey[0, 0] == 255 and grey.min() < 64  # dark ink on white paper, like a scan


def test_tuning_and_evaluation_splits_are_disjoint_and_cover_every_digit():
    parts = handwriting.splits(1797)
    rows = [set(range(1797)[s]) for s in parts.values()]
    assert rows[0].isdisjoint(rows[1]) and rows[0] | rows[1] == set(range(1797))
    assert list(parts) == ["tuning", "evaluation"]


def test_command_writes_results_and_plot(tmp_path, capsys):
    out = tmp_path / "handwriting.json"
    code = main(["handwriting", "--model-dir", str(MODELS), "--out", str(out)])
    report = json.loads(out.read_text())
    assert code == (0 if report["ok"] else 1)
    assert out.with_suffix(".png").stat().st_size > 0
    assert report["splits"]["evaluation"]["digits"] == 1797 - handwriting.TUNING_ROWS
    for name in ("mlp", "xgboost"):
        # Far above chance: the whole path (PNG -> prepare_image -> ONNX) works on real digits.
        assert report["splits"]["evaluation"][name] > 80, name
        confusion = np.array(report["confusion"][name])
        assert confusion.sum() == report["splits"]["evaluation"]["digits"]
    assert "evaluation" in capsys.readouterr().out
