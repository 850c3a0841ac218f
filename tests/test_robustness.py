"""MNIST test digits sent as image files: both models within 1.5 points of the original vectors.

A few hundred digits here; `mnist-serve robustness` runs the whole test set (benchmarks/).
"""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from PIL import Image

from mnist_serve import robustness
from mnist_serve.runtime import ModelRegistry
from tests.conftest import MODELS, SHARED_MNIST

N_DIGITS = 300


@pytest.fixture(scope="module")
def mnist():
    if not SHARED_MNIST.is_dir():
        pytest.skip("no ../shared/mnist here")
    from mnist_serve.data import load_from_dir

    return load_from_dir(SHARED_MNIST)


def test_rendered_digits_keep_both_models_within_tolerance(mnist):
    registry = ModelRegistry.load(MODELS)
    # Every 33rd test digit: spread over the whole test set, not its first page.
    pick = np.arange(N_DIGITS) * (len(mnist.x_test) // N_DIGITS)
    criterion = tuple(s for s in robustness.SCENARIOS if s.criterion)
    report = robustness.measure(registry, mnist.x_test[pick], mnist.y_test[pick], criterion)
    assert report["images"] == N_DIGITS
    for name, entry in report["scenarios"].items():
        for model in ("mlp", "xgboost"):
            drop = entry[model]["drop_points"]
            assert drop <= robustness.TOLERANCE_POINTS, f"{model} on {name}: -{drop:.2f} points"
    assert report["ok"] is True


@pytest.mark.parametrize("scenario", robustness.SCENARIOS, ids=lambda s: s.name)
def test_each_scenario_renders_a_dark_on_light_image_file(scenario):
    digit = np.zeros((28, 28), dtype=np.uint8)
    digit[4:24, 12:16] = 255
    data = scenario.render(digit, np.random.default_rng(0))
    image = Image.open(io.BytesIO(data))
    pixels = np.asarray(image.convert("RGBA").convert("LA"), dtype=float)
    grey = pixels[..., 0] * pixels[..., 1] / 255 + (255 - pixels[..., 1])
    assert image.width >= 21 and np.median(grey) > 150 and grey.min() < 100


def test_report_and_plot_are_written(tmp_path, mnist):
    report = robustness.run(MODELS, SHARED_MNIST, limit=20, out=tmp_path / "robustness.json")
    written = json.loads((tmp_path / "robustness.json").read_text())
    assert written["images"] == 20 and written["ok"] == report["ok"]
    assert set(written["models"]) == {"mlp", "xgboost"}
    assert set(written["scenarios"]) == {s.name for s in robustness.SCENARIOS}
    assert (tmp_path / "robustness.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
