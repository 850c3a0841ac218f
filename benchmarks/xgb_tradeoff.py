"""Accuracy against inference cost of the XGBoost model, by number of boosting rounds.

Takes an XGBoost model, keeps its first k rounds for several k, exports each to ONNX the way
training does, and measures test accuracy and ONNX Runtime latency (single distinct images, and
per image in a batch of 256, one thread), for the converter's single TreeEnsembleClassifier and
for the per-class split that ships. Chooses the shipped size on evidence.

The shipped original (`models/xgboost.ubj`) has only the shipped number of rounds, so it can
answer only for k up to that. Rounds beyond it need a longer model: `--train` fits one with the
shipped recipe (`XgbParams`, all 60k training images, as `mnist-serve train --refit` does) and as many
rounds as the largest k (about 15 minutes for 150 rounds on 2 cores). Without `--train` the
script refuses such k rather than dropping them silently.

    .venv/bin/python benchmarks/xgb_tradeoff.py --data-dir ../shared/mnist --train \
        --rounds 50,75,100,125,150
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

import onnxruntime as ort
import xgboost as xgb

from mnist_serve.bench import latency_us
from mnist_serve.data import N_PIXELS, load_mnist, scale_pixels
from mnist_serve.runtime import _session_options
from mnist_serve.training import INPUT_NAME, OUTPUT_NAME, XgbParams, export_xgboost, fit_xgboost

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data-dir", type=Path)
    parser.add_argument("--model", type=Path, default=ROOT / "models" / "xgboost.ubj")
    parser.add_argument("--rounds", default="50,75,100,125,150")
    parser.add_argument(
        "--train",
        action="store_true",
        help="fit a model with the shipped recipe and max(--rounds) rounds instead of --model",
    )
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument("--limit", type=int, help="with --train: first N training images (smoke)")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/xgb_tradeoff.json")
    args = parser.parse_args()

    data = load_mnist(args.data_dir)
    x = scale_pixels(data.x_test.reshape(-1, N_PIXELS))
    ks = [int(r) for r in args.rounds.split(",")]
    model_path, source = args.model, str(args.model.name)
    if args.train:
        params = replace(XgbParams(), n_estimators=max(ks))
        x_train = scale_pixels(data.x_train[: args.limit].reshape(-1, N_PIXELS))
        model_path = Path(tempfile.mkdtemp()) / "xgboost-trained.ubj"
        fit_xgboost(x_train, data.y_train[: args.limit], params, args.seed).save_model(model_path)
        source = (
            f"trained here: shipped recipe with {params.n_estimators} rounds, seed {args.seed}, "
            f"{len(x_train)} training images"
        )
    full = xgb.XGBClassifier()
    full.load_model(model_path)
    total = full.get_booster().num_boosted_rounds()
    if max(ks) > total:
        sys.exit(
            f"{source} has {total} rounds; cannot measure {[k for k in ks if k > total]}. "
            "Pass --train to fit a model with enough rounds."
        )
    rows = []
    for k in ks:
        model = xgb.XGBClassifier()
        model.load_model(model_path)
        model._Booster = model.get_booster()[:k]  # keep the first k rounds
        row: dict = {"rounds": k, "trees": k * 10}
        # The converter's one TreeEnsembleClassifier, and the per-class split that ships.
        for split in (False, True):
            with tempfile.TemporaryDirectory() as tmp:
                path = Path(tmp) / "m.onnx"
                export_xgboost(model, path, split=split)
                size = path.stat().st_size
                session = ort.InferenceSession(str(path), _session_options())
            proba = session.run([OUTPUT_NAME], {INPUT_NAME: x})[0]
            timing = latency_us(
                lambda rows, s=session: s.run([OUTPUT_NAME], {INPUT_NAME: rows}),
                x,
                singles=500,
                warmup=20,
                batches=10,
            )
            single, per_image = timing["single_median_us"], timing["batch256_per_image_us"]
            if split:
                row["test_accuracy"] = float((proba.argmax(1) == data.y_test).mean())
                row.update(
                    single_median_us=single, batch256_per_image_us=per_image, onnx_bytes=size
                )
            else:
                row.update(
                    classifier_single_median_us=single, classifier_batch256_per_image_us=per_image
                )
        rows.append(row)
        print(json.dumps(rows[-1]), flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"model": source, "rows": rows}, indent=2) + "\n")
    plot(rows, args.out.with_suffix(".png"))


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    rounds = [r["rounds"] for r in rows]
    ax.plot(rounds, [r["test_accuracy"] * 100 for r in rows], marker="o", color="C0")
    ax.axhline(98.0, color="C0", linestyle=":", linewidth=1)
    ax.set_xlabel("boosting rounds (10 trees each)")
    ax.set_ylabel("test accuracy (%)", color="C0")
    right = ax.twinx()
    right.plot(
        rounds, [r["single_median_us"] for r in rows], marker="s", color="C1", label="single"
    )
    right.plot(
        rounds,
        [r["batch256_per_image_us"] for r in rows],
        marker="^",
        color="C2",
        label="batch 256",
    )
    right.set_ylabel("microseconds per image")
    right.legend(loc="lower right")
    ax.set_title("XGBoost: accuracy vs ONNX Runtime cost by rounds kept")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


if __name__ == "__main__":
    main()
