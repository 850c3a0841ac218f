"""Accuracy against inference cost of the MLP, by hidden-layer sizes.

Trains each size with the shipped recipe (`MlpParams` but for `hidden`) on the training split
(the seeded 5k holdout kept out), exports it to ONNX the way training does, and measures
validation and test accuracy and ONNX Runtime latency: single distinct images, and per image
in a batch of 256, one thread. Choose on validation accuracy; the test column is for the record.
Each size is timed as two graphs, one row each: `dense` (the plain product, what tf2onnx
writes) and `shipped` (`export_mlp`'s graph, which adds the sparse single-image path).
The weights of the first layers decide the cost: once they outgrow the core's L2 cache (2 MB
here), every single-image call streams them from memory.

    .venv/bin/python benchmarks/mlp_tradeoff.py --data-dir ../shared/mnist
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

from mnist_serve import training
from mnist_serve.bench import latency_us
from mnist_serve.data import load_mnist
from mnist_serve.runtime import _session_options
from mnist_serve.training import (
    INPUT_NAME,
    OUTPUT_NAME,
    MlpParams,
    accuracy,
    export_mlp,
    fit_mlp,
    split,
)

ROOT = Path(__file__).resolve().parents[1]


def export_dense(model, path: Path) -> None:
    """`export_mlp` without its sparse single-image path: the dense graph alone."""
    sparse = training.sparse_single_image
    training.sparse_single_image = lambda onnx_model: onnx_model
    try:
        export_mlp(model, path)
    finally:
        training.sparse_single_image = sparse


GRAPHS = {"dense": export_dense, "shipped": export_mlp}


def _run(session: ort.InferenceSession, x: np.ndarray) -> np.ndarray:
    return session.run([OUTPUT_NAME], {INPUT_NAME: x})[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data-dir", type=Path)
    parser.add_argument("--sizes", default="512x384,384x256,256x256,256x128")
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/mlp_tradeoff.json")
    parser.add_argument("--epochs", type=int, help="override the recipe's epochs (smoke runs)")
    parser.add_argument("--limit", type=int, help="first N training images only (smoke runs)")
    args = parser.parse_args()

    arrays = split(load_mnist(args.data_dir), 5000, args.seed)
    if args.limit:
        arrays["train"] = tuple(a[: args.limit] for a in arrays["train"])
    (x_test, y_test), (x_val, y_val) = arrays["test"], arrays["val"]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for size in args.sizes.split(","):
            hidden = tuple(int(u) for u in size.split("x"))
            params = replace(MlpParams(), hidden=hidden)
            if args.epochs:
                params = replace(params, epochs=args.epochs)
            started = time.monotonic()
            model = fit_mlp(*arrays["train"], params, args.seed)
            fit_seconds = time.monotonic() - started
            for graph, export in GRAPHS.items():
                path = Path(tmp) / f"mlp-{size}-{graph}.onnx"
                export(model, path)
                session = ort.InferenceSession(str(path), _session_options())
                rows.append(
                    {
                        "hidden": list(hidden),
                        "graph": graph,
                        "parameters": int(model.count_params()),
                        "val_accuracy": accuracy(_run(session, x_val), y_val),
                        "test_accuracy": accuracy(_run(session, x_test), y_test),
                        "fit_seconds": round(fit_seconds, 1),
                        "onnx_bytes": path.stat().st_size,
                        "path": str(path),
                    }
                )
                print(json.dumps(rows[-1]), flush=True)
        # Time every size at the end, back to back, with nothing else running.
        for row in rows:
            session = ort.InferenceSession(row.pop("path"), _session_options())
            row.update(latency_us(lambda rows, s=session: _run(s, rows), x_test, batches=10))
            print(json.dumps(row), flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    recipe = replace(MlpParams(), epochs=args.epochs or MlpParams().epochs)
    report = {
        "recipe": {**vars(recipe), "hidden": "varied"},
        "train_rows": len(arrays["train"][0]),
        "rows": rows,
    }
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    plot(rows, args.out.with_suffix(".png"))


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    # One point per size: the dense graph's cost (rows of older files carry no `graph`).
    shipped = {tuple(r["hidden"]): r for r in rows if r.get("graph") == "shipped"}
    rows = [r for r in rows if r.get("graph", "dense") == "dense"]
    labels = ["x".join(map(str, r["hidden"])) for r in rows]
    pos = np.arange(len(rows))
    ax.plot(pos, [r["val_accuracy"] * 100 for r in rows], marker="o", color="C0", label="val")
    ax.plot(
        pos, [r["test_accuracy"] * 100 for r in rows], marker="x", color="C0", ls="--", label="test"
    )
    ax.axhline(98.4, color="C0", linestyle=":", linewidth=1)
    ax.set_xticks(pos, labels)
    ax.set_xlabel("hidden layers")
    ax.set_ylabel("accuracy (%)", color="C0")
    ax.legend(loc="lower left")
    right = ax.twinx()
    right.bar(
        pos - 0.15,
        [r["single_median_us"] for r in rows],
        0.3,
        color="C1",
        alpha=0.5,
        label="single, dense graph",
    )
    right.bar(
        pos + 0.15,
        [r["batch256_per_image_us"] for r in rows],
        0.3,
        color="C2",
        alpha=0.5,
        label="batch 256, per image",
    )
    if shipped:
        right.scatter(
            pos,
            [shipped[tuple(r["hidden"])]["single_median_us"] for r in rows],
            color="C3",
            marker="D",
            label="single, shipped graph (sparse path)",
        )
    right.set_ylabel("microseconds per image")
    right.legend(loc="upper right")
    ax.set_title("MLP: accuracy vs ONNX Runtime cost by hidden-layer sizes")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


if __name__ == "__main__":
    main()
