"""Accuracy on real handwritten digits that do not come from MNIST, sent as image files.

The digits are UCI's optdigits test set as scikit-learn ships it (`sklearn.datasets.load_digits`:
1,797 digits by 13 writers who are not among MNIST's, scanned at 32x32 and stored as 8x8 ink
counts). Nothing of it is committed: it is read from the installed package at run time.

Each digit becomes an image file the way a scan would arrive (dark ink on white, PNG, its 8x8
counts smoothed back to the 32x32 it was scanned at), goes through `prepare_image` (the
preprocessing behind `POST /predict/image`) and then the served models.

Tuning and evaluation are kept apart by row: rows [0, TUNING_ROWS) are the tuning split, the
only one looked at while choosing augmentation ranges; the rest is the evaluation split, whose
figures are the ones reported. sklearn does not name the writers; the rows follow UCI's file,
which is written writer after writer, so the cut keeps most writers on one side (one writer may
straddle it).
"""

from __future__ import annotations

import io
import time
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from mnist_serve.data import N_PIXELS, scale_pixels
from mnist_serve.images import prepare_image
from mnist_serve.robustness import accuracy_bars
from mnist_serve.runtime import ModelRegistry

TUNING_ROWS = 597
TARGET_POINTS = 95.0
SCANNED_SIDE = 32  # optdigits' bitmaps were 32x32; each stored value counts a 4x4 block
MAX_PIXELS = 4096 * 4096


def load_optdigits() -> tuple[np.ndarray, np.ndarray]:
    """(n, 8, 8) ink counts 0..16 and (n,) labels, from the installed scikit-learn."""
    try:
        from sklearn.datasets import load_digits
    except ImportError as exc:  # a serve-only install
        raise OSError(
            "scikit-learn is not installed: run `make .venv/.installed-dev` (the dev extra)"
        ) from exc
    digits = load_digits()
    return digits.images.astype(np.float32), digits.target.astype(np.int64)


def as_png(counts: np.ndarray) -> bytes:
    """8x8 ink counts (0..16) -> a 32x32 PNG, dark ink on white, like the original scan."""
    ink = Image.fromarray((counts / 16.0).astype(np.float32), "F")
    ink = ink.resize((SCANNED_SIDE, SCANNED_SIDE), Image.Resampling.BILINEAR)
    grey = 255.0 - np.clip(np.asarray(ink), 0.0, 1.0) * 255.0
    out = io.BytesIO()
    Image.fromarray(np.round(grey).astype(np.uint8), "L").save(out, format="PNG")
    return out.getvalue()


def prepared(counts: np.ndarray) -> np.ndarray:
    """uint8 (n, 784): what the models see for each digit sent as an image file."""
    return np.stack([prepare_image(as_png(c), MAX_PIXELS).pixels.reshape(N_PIXELS) for c in counts])


def splits(n: int) -> dict[str, slice]:
    return {"tuning": slice(0, TUNING_ROWS), "evaluation": slice(TUNING_ROWS, n)}


def measure(registry: ModelRegistry, pixels: np.ndarray, labels: np.ndarray) -> dict[str, Any]:
    """Accuracy (points) per model and per split, and each model's confusion on evaluation."""
    proba = registry.predict_all(scale_pixels(pixels))
    report: dict[str, Any] = {"splits": {}, "confusion": {}}
    for split, rows in splits(len(labels)).items():
        report["splits"][split] = {
            "rows": [rows.start, rows.stop],
            "digits": rows.stop - rows.start,
            **{
                name: round(float((p[rows].argmax(1) == labels[rows]).mean() * 100), 2)
                for name, p in proba.items()
            },
        }
    rows = splits(len(labels))["evaluation"]
    for name, p in proba.items():
        confusion = np.zeros((10, 10), dtype=int)
        np.add.at(confusion, (labels[rows], p[rows].argmax(1)), 1)
        report["confusion"][name] = confusion.tolist()
    evaluation = report["splits"]["evaluation"]
    report["target_points"] = TARGET_POINTS
    report["ok"] = all(evaluation[name] >= TARGET_POINTS for name in proba)
    return report


def run(model_dir: Path, precision: str | None = None, out: Path | None = None) -> dict[str, Any]:
    """Render, prepare and classify every digit; write JSON + plot to `out`."""
    from importlib import metadata

    counts, labels = load_optdigits()
    registry = ModelRegistry.load(model_dir, precision)
    started = time.perf_counter()
    report = {
        "data": "UCI optdigits test set via sklearn.datasets.load_digits "
        f"(scikit-learn {metadata.version('scikit-learn')}), {len(labels)} digits, 13 writers",
        "path": "8x8 counts -> 32x32 PNG (dark on white) -> prepare_image -> ONNX models",
        "models": {
            m.name: {
                "version": m.version,
                "precision": m.metadata["artifact"].get("variant", "fp32"),
                "sha256": m.metadata["artifact"]["sha256"],
            }
            for m in registry.models
        },
        **measure(registry, prepared(counts), labels),
    }
    report["seconds"] = round(time.perf_counter() - started, 1)
    if out is not None:
        write_report(report, out)
    return report


def write_report(report: dict[str, Any], out: Path) -> Path:
    """The JSON report and a bar chart beside it (same name, .png)."""
    splits = report["splits"]
    names = [f"{s}\n({splits[s]['digits']} digits)" for s in splits]
    values = {m: [splits[s][m] for s in splits] for m in report["models"]}
    title = (
        "Real handwritten digits from elsewhere (UCI optdigits) as PNG files\n"
        f"through prepare_image; dotted: the {report['target_points']:.0f}% target"
    )
    lines = {"": report["target_points"]}
    return accuracy_bars(report, out, names, values, title, lines, figsize=(7, 4.5), margin=10)
