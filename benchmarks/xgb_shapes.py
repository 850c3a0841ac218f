"""XGBoost tree shape against serving cost: deeper trees, fewer rounds.

ONNX Runtime visits one node per tree level, each a dependent memory read and an unpredictable
branch, so a prediction costs about trees x depth node visits. This trains a few (depth, rounds)
shapes with the shipped recipe otherwise (`XgbParams`, one shifted copy) on the training split,
exports each the way training does, and measures validation and test accuracy and latency on
distinct images: warm, with caches flushed, and per image in a batch of 256.

    .venv/bin/python -m benchmarks.xgb_shapes --data-dir ../shared/mnist
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import onnxruntime as ort

from mnist_serve.bench import latency_us
from mnist_serve.data import load_mnist
from mnist_serve.runtime import _session_options
from mnist_serve.training import (
    INPUT_NAME,
    OUTPUT_NAME,
    XgbParams,
    accuracy,
    export_xgboost,
    fit_xgboost,
    split,
)

ROOT = Path(__file__).resolve().parents[1]


def mean_visits(model, x: np.ndarray) -> float:
    """Average tree levels walked per image: sum of leaf depths over all trees."""
    from benchmarks.xgb_scans import leaf_depths, visits

    booster = model.get_booster()
    return visits(booster, x, booster.num_boosted_rounds(), leaf_depths(booster))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data-dir", type=Path)
    parser.add_argument("--shapes", default="6x100,8x60,10x40,12x30", help="depth x rounds")
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/xgb_shapes.json")
    args = parser.parse_args()

    arrays = split(load_mnist(args.data_dir), 5000, args.seed)
    (x_test, y_test), (x_val, y_val) = arrays["test"], arrays["val"]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for shape in args.shapes.split(","):
            depth, rounds = (int(v) for v in shape.split("x"))
            params = replace(XgbParams(), max_depth=depth, n_estimators=rounds)
            started = time.monotonic()
            model = fit_xgboost(*arrays["train"], params, args.seed)
            fit_seconds = time.monotonic() - started
            path = Path(tmp) / f"xgb-{shape}.onnx"
            export_xgboost(model, path)
            session = ort.InferenceSession(str(path), _session_options())
            run = lambda x, s=session: s.run([OUTPUT_NAME], {INPUT_NAME: x})[0]  # noqa: E731
            rows.append(
                {
                    "max_depth": depth,
                    "rounds": rounds,
                    "val_accuracy": accuracy(run(x_val), y_val),
                    "test_accuracy": accuracy(run(x_test), y_test),
                    "node_visits_per_image": round(mean_visits(model, x_test[:500]), 1),
                    "fit_seconds": round(fit_seconds, 1),
                    "onnx_bytes": path.stat().st_size,
                    "path": str(path),
                }
            )
            print(json.dumps(rows[-1]), flush=True)
        for row in rows:  # timed back to back at the end, nothing else running
            session = ort.InferenceSession(row.pop("path"), _session_options())
            row.update(
                latency_us(
                    lambda rows, s=session: s.run([OUTPUT_NAME], {INPUT_NAME: rows}),
                    x_test,
                    cold=200,
                )
            )
            print(json.dumps(row), flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"recipe": vars(XgbParams()), "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
