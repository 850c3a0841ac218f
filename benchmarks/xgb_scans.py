"""XGBoost trained with form-scan lookalikes: MNIST accuracy and optdigits TUNING accuracy
against the number of rounds, for one tree depth and scan share per fit.

One fit with the shipped recipe (`XgbParams`) but for the given depth, rounds, learning rate,
augmented copies and scan fraction, on the training split (as `train --no-refit`), then the
same model scored at several round counts (a model cut at k rounds is the model trained for k
rounds: boosting is sequential). Reports MNIST validation and test accuracy, the optdigits
tuning split's accuracy through the image path (`mnist_serve.handwriting.prepared`; the
evaluation split is never read here) and node visits per image (the serving cost's proxy).

    .venv/bin/python benchmarks/xgb_scans.py --data-dir ../shared/mnist --depth 8 --rounds 100 \
        --cuts 60,70,80,90,100 --scan-fraction 0.3 --out /tmp/xgb-d8.json
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from mnist_serve.data import load_mnist, scale_pixels
from mnist_serve.handwriting import TUNING_ROWS, load_optdigits, prepared
from mnist_serve.training import XgbParams, fit_xgboost, split


def visits(booster, x: np.ndarray, rounds: int, depth_of: dict) -> float:
    """Average tree levels walked per image by the first `rounds` rounds."""
    import xgboost as xgb

    leaves = booster.predict(xgb.DMatrix(x), pred_leaf=True, iteration_range=(0, rounds))
    total = sum(depth_of[t, int(leaf)] for row in leaves for t, leaf in enumerate(row))
    return total / len(leaves)


def leaf_depths(booster) -> dict:
    depth_of = {}
    for tree_id, dump in enumerate(booster.get_dump(dump_format="json")):
        stack = [(json.loads(dump), 0)]
        while stack:
            node, depth = stack.pop()
            if "leaf" in node:
                depth_of[tree_id, node["nodeid"]] = depth
            else:
                stack += [(child, depth + 1) for child in node["children"]]
    return depth_of


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data-dir", type=Path)
    parser.add_argument("--depth", type=int, default=XgbParams.max_depth)
    parser.add_argument("--rounds", type=int, default=XgbParams.n_estimators)
    parser.add_argument("--cuts", default="", help="round counts to score (default: --rounds)")
    parser.add_argument("--learning-rate", type=float, default=XgbParams.learning_rate)
    parser.add_argument("--copies", type=int, default=XgbParams.augmented_copies)
    parser.add_argument("--scan-fraction", type=float, default=0.3)
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument("--save", type=Path, help="write the fitted booster here (.ubj)")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()

    arrays = split(load_mnist(args.data_dir), 5000, args.seed)
    (x_test, y_test), (x_val, y_val) = arrays["test"], arrays["val"]
    counts, labels = load_optdigits()
    x_tune = scale_pixels(prepared(counts[:TUNING_ROWS]))  # tuning split only
    y_tune = labels[:TUNING_ROWS]
    base = XgbParams()
    params = replace(
        base,
        max_depth=args.depth,
        n_estimators=args.rounds,
        learning_rate=args.learning_rate,
        augmented_copies=args.copies,
        augmentation=replace(base.augmentation, scan_fraction=args.scan_fraction),
    )
    started = time.monotonic()
    model = fit_xgboost(*arrays["train"], params, args.seed)
    fit_seconds = round(time.monotonic() - started, 1)
    booster = model.get_booster()
    if args.save:
        booster.save_model(str(args.save))
    depth_of = leaf_depths(booster)
    rows = []
    for k in [int(c) for c in args.cuts.split(",") if c] or [args.rounds]:
        score = {
            name: float((model.predict_proba(x, iteration_range=(0, k)).argmax(1) == y).mean())
            for name, (x, y) in {
                "val": (x_val, y_val),
                "test": (x_test, y_test),
                "optdigits_tuning": (x_tune, y_tune),
            }.items()
        }
        rows.append(
            {
                "rounds": k,
                **score,
                "node_visits_per_image": round(visits(booster, x_test[:500], k, depth_of), 1),
            }
        )
        print(json.dumps(rows[-1]), flush=True)
    report = {
        "params": {k: v for k, v in vars(params).items() if k != "augmentation"},
        "augmentation": vars(params.augmentation),
        "train_rows": len(arrays["train"][0]),
        "fit_seconds": fit_seconds,
        "rows": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2, default=list) + "\n")


if __name__ == "__main__":
    main()
