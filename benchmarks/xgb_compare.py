"""Serving cost of XGBoost versions side by side: interleaved rounds in one process.

The machine is shared and its speed drifts, so only relative figures from one run mean
anything. Each round times every model in turn (the order alternating round to round), with
the server's session options (`mnist_serve.runtime._session_options`) on distinct MNIST test
images: a single image warm, a single image after 32 MB went through the caches, and the cost
per image in batches of 256. Reports each model's median over rounds, its ratio to the first
model's (the baseline), and the median of its per-round ratios to the baseline's same round.
Models are ONNX files, or `file.ubj:K` (an XGBoost original cut to its first K rounds,
exported the way training exports). Short rounds, many of them, interleave best:

    .venv/bin/python benchmarks/xgb_compare.py --data-dir ../shared/mnist --rounds 31 \
        --singles 300 --cold 60 models/xgboost/2/xgboost.onnx models/xgboost/3/xgboost.onnx
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np
import onnxruntime as ort

from mnist_serve.bench import timed_calls
from mnist_serve.data import N_PIXELS, load_mnist, scale_pixels
from mnist_serve.runtime import _session_options
from mnist_serve.training import INPUT_NAME, OUTPUT_NAME, export_xgboost

ROOT = Path(__file__).resolve().parents[1]
MEASURES = ("single_us", "cold_single_us", "batch256_per_image_us")


def onnx_file(spec: str, tmp: Path) -> Path:
    """An ONNX path as is; `model.ubj:K` exported with its first K rounds."""
    if ".ubj:" not in spec:
        return Path(spec)
    import xgboost as xgb

    path, rounds = spec.rsplit(":", 1)
    model = xgb.XGBClassifier()
    model.load_model(path)
    model._Booster = model.get_booster()[: int(rounds)]
    out = tmp / f"{Path(path).stem}-{rounds}.onnx"
    export_xgboost(model, out)
    return out


def one_round(session, x: np.ndarray, singles: int, cold: int) -> dict[str, float]:
    run = lambda rows: session.run([OUTPUT_NAME], {INPUT_NAME: rows})  # noqa: E731
    rows = [np.ascontiguousarray(r[None, :]) for r in x[:singles]]
    batches = [x[256 * i : 256 * (i + 1)] for i in range(8)]
    return {
        "single_us": float(np.median(timed_calls(run, rows, len(rows), 50)) * 1e6),
        "cold_single_us": float(
            np.median(timed_calls(run, rows[:cold], cold, 0, flush_caches=True)) * 1e6
        ),
        "batch256_per_image_us": float(np.median(timed_calls(run, batches, 8, 1)) * 1e6 / 256),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("models", nargs="+", help="ONNX files or file.ubj:ROUNDS; first = baseline")
    parser.add_argument("--data-dir", type=Path)
    parser.add_argument("--rounds", type=int, default=9, help="interleaved rounds")
    parser.add_argument("--singles", type=int, default=1000, help="distinct images per round")
    parser.add_argument("--cold", type=int, default=200, help="cache-flushed images per round")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/xgb_compare.json")
    args = parser.parse_args()

    data = load_mnist(args.data_dir)
    x = scale_pixels(data.x_test.reshape(-1, N_PIXELS))
    with tempfile.TemporaryDirectory() as tmp:
        paths = [onnx_file(spec, Path(tmp)) for spec in args.models]
        sessions = [ort.InferenceSession(str(p), _session_options()) for p in paths]
        sizes = [p.stat().st_size for p in paths]
    times: list[list[dict[str, float]]] = [[] for _ in sessions]
    for r in range(args.rounds):
        order = range(len(sessions)) if r % 2 == 0 else reversed(range(len(sessions)))
        for i in order:
            times[i].append(one_round(sessions[i], x, args.singles, args.cold))
        print(f"round {r + 1}/{args.rounds}: " + json.dumps([t[-1] for t in times]), flush=True)
    medians = [{m: float(np.median([t[m] for t in runs])) for m in MEASURES} for runs in times]
    report = {
        "note": "interleaved rounds in one process on a shared machine: compare ratios only",
        "rounds": args.rounds,
        "models": [
            {
                "model": spec,
                "onnx_bytes": size,
                "median": med,
                "ratio_to_baseline": {m: med[m] / medians[0][m] for m in MEASURES},
                # Each round against the baseline's same round: sturdier when the machine's
                # load comes and goes in bursts.
                "paired_ratio_to_baseline": {
                    m: float(np.median([a[m] / b[m] for a, b in zip(runs, times[0], strict=True)]))
                    for m in MEASURES
                },
                "per_round": runs,
            }
            for spec, size, med, runs in zip(args.models, sizes, medians, times, strict=True)
        ],
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    plot(report, args.out.with_suffix(".png"))
    for m in report["models"]:
        print(m["model"], {k: round(v, 3) for k, v in m["paired_ratio_to_baseline"].items()})


def plot(report: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    width = 0.8 / len(report["models"])
    for i, m in enumerate(report["models"]):
        xs = np.arange(len(MEASURES)) + i * width
        ax.bar(xs, [m["ratio_to_baseline"][k] for k in MEASURES], width, label=m["model"])
    ax.axhline(1.0, color="grey", lw=0.8)
    ax.axhline(1.1, color="grey", lw=0.8, ls=":")
    ax.set_xticks(np.arange(len(MEASURES)) + width * (len(report["models"]) - 1) / 2)
    ax.set_xticklabels(MEASURES)
    ax.set_ylabel("median cost / baseline's")
    ax.set_title(f"XGBoost serving cost, {report['rounds']} interleaved rounds (dotted: +10%)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    main()
