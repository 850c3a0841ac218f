"""Recompute the served artifacts' accuracy on the MNIST test set and hold it to their model.json."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from mnist_serve.data import N_PIXELS, load_mnist, scale_pixels
from mnist_serve.runtime import ModelRegistry, verify_artifacts


def evaluate(
    model_dir: Path, data_dir: Path | None, mirror: str | None = None, tolerance: float = 0.001
) -> dict[str, Any]:
    """Accuracy of each served (ONNX) model; `ok` is False if one is > `tolerance` below the
    accuracy its model.json records, or if any file in the repository fails its sha256."""
    data = load_mnist(data_dir, mirror)
    x = scale_pixels(data.x_test.reshape(-1, N_PIXELS))
    registry = ModelRegistry.load(model_dir)
    report: dict[str, Any] = {
        "test_rows": len(x),
        "models": {},
        "artifacts": verify_artifacts(model_dir),
    }
    ok = all(report["artifacts"].values())
    for model in registry.models:
        proba = np.concatenate(
            [model.predict_proba(x[i : i + 1000]) for i in range(0, len(x), 1000)]
        )
        measured = float((proba.argmax(1) == data.y_test).mean())
        claimed = model.metadata.get("metrics", {}).get("test_accuracy")
        passed = claimed is None or measured >= claimed - tolerance
        ok &= passed
        report["models"][model.name] = {
            "version": model.version,
            "test_accuracy": measured,
            "recorded_test_accuracy": claimed,
            "ok": passed,
        }
    report["ok"] = ok
    return report
