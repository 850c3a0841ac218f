"""The timing helper the benchmark scripts share."""

from __future__ import annotations

import numpy as np

from mnist_serve.bench import latency_us
from mnist_serve.runtime import ModelRegistry
from tests.conftest import MODELS


def test_latency_us_times_each_image_and_each_batch():
    model = ModelRegistry.load(MODELS).get("xgboost")
    seen = []

    def run(rows: np.ndarray) -> np.ndarray:
        seen.append(len(rows))
        return model.predict_proba(rows)

    x = (np.random.default_rng(0).random((40, 784)) > 0.8).astype(np.float32)
    out = latency_us(run, x, singles=30, warmup=5, cold=4, batches=2, batch=16)
    assert set(out) == {"single_median_us", "cold_single_median_us", "batch16_per_image_us"}
    assert all(v > 0 for v in out.values())
    assert seen == [1] * (5 + 30 + 4) + [16, 16]


def test_latency_us_skips_the_cold_run_unless_asked():
    x = np.zeros((4, 784), dtype=np.float32)
    out = latency_us(lambda rows: rows.sum(), x, singles=4, warmup=0, batches=1, batch=2)
    assert "cold_single_median_us" not in out and "batch2_per_image_us" in out
