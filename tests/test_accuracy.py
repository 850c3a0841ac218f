"""The shipped models on the real MNIST test set (when ../shared/mnist is on this machine)."""

from __future__ import annotations

import numpy as np
import pytest

from mnist_serve.data import load_from_dir, scale_pixels
from mnist_serve.repository import read_model_json
from mnist_serve.runtime import ModelRegistry
from tests.conftest import MODELS, SHARED_MNIST

# Issue 12: MNIST test >= 99.0% (MLP, served int8) and >= 98.2% (XGBoost).
TARGETS = {"mlp": 0.990, "xgboost": 0.982}

pytestmark = pytest.mark.skipif(not SHARED_MNIST.is_dir(), reason="no ../shared/mnist here")


@pytest.fixture(scope="module")
def test_set():
    data = load_from_dir(SHARED_MNIST)
    return scale_pixels(data.x_test.reshape(-1, 784)), data.y_test


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_shipped_model_meets_its_accuracy_target(name, test_set):
    x, y = test_set
    model = ModelRegistry.load(MODELS).get(name)
    accuracy = float((model.predict_proba(x).argmax(1) == y).mean())
    assert accuracy >= TARGETS[name]
    recorded = read_model_json(MODELS / name / model.version)
    assert accuracy == pytest.approx(recorded["metrics"]["test_accuracy"], abs=1e-3)


def test_models_agree_on_almost_every_test_image(test_set):
    x, _ = test_set
    registry = ModelRegistry.load(MODELS)
    out = registry.predict_all(x)
    agree = float(np.mean(out["mlp"].argmax(1) == out["xgboost"].argmax(1)))
    assert agree > 0.97
