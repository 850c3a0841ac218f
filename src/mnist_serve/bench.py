"""The seed's inference speed test: 1000 single predictions per model, plus a batched run.

Every timed call sees a different image (the example, shifted): timing one image over and over,
as the seed did, lets the CPU's branch predictor learn the trees' paths and made XGBoost look
twice as fast as it is on real traffic (38 vs 75 us here). That repeated-image figure is still
recorded, as `single_repeated`, to compare with the seed's. Writes a JSON result and a PNG plot;
the README quotes the JSON.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from mnist_serve.http.parsing import images_from_document, parse_json
from mnist_serve.runtime import ModelRegistry

# What the seed's own script printed (laptop CPU, tf.keras / XGBClassifier, one image).
SEED_SINGLE_SECONDS = {"mlp": 0.0012, "xgboost": 0.0007}


def _summary(seconds: list[float]) -> dict[str, float]:
    us = np.asarray(seconds) * 1e6
    return {
        "mean_us": float(us.mean()),
        "median_us": float(np.median(us)),
        "min_us": float(us.min()),
        "max_us": float(us.max()),
        "std_us": float(us.std()),
        "p99_us": float(np.percentile(us, 99)),
        "predictions_per_second": float(1e6 / us.mean()),
    }


def _batch_from_example(x: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
    """n distinct images: the example shifted by up to 3 pixels, so trees take varied paths."""
    rng = np.random.default_rng(seed)
    image = x.reshape(28, 28)
    rows = [
        np.roll(image, (int(dy), int(dx)), axis=(0, 1)) for dy, dx in rng.integers(-3, 4, (n, 2))
    ]
    return np.stack(rows).reshape(n, -1).astype(np.float32)


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def timed_calls(
    run: Callable[[Any], object],
    inputs: Sequence[Any],
    trials: int,
    warmup: int = 50,
    flush_caches: bool = False,
) -> list[float]:
    """The one timing loop: `trials` calls of `run`, cycling through `inputs`, after `warmup`
    untimed ones; seconds per call. With `flush_caches`, 32 MB pass through the caches before
    each call: what a request sees when parsing, the other model and the network stack ran in
    between."""
    junk = np.ones(8_000_000, dtype=np.float32) if flush_caches else None
    for i in range(warmup):
        run(inputs[i % len(inputs)])
    times = []
    for i in range(trials):
        if junk is not None:
            junk.sum()
        item = inputs[i % len(inputs)]
        t0 = time.perf_counter()
        run(item)
        times.append(time.perf_counter() - t0)
    return times


def _median_us(times: list[float]) -> float:
    return float(np.median(times) * 1e6)


def latency_us(
    run: Callable[[np.ndarray], object],
    x: np.ndarray,
    singles: int = 1000,
    warmup: int = 50,
    cold: int = 0,
    batches: int = 8,
    batch: int = 256,
) -> dict[str, float]:
    """Medians for the benchmark scripts: one call per distinct image of `x` (after `warmup`
    untimed calls), the same with caches flushed first (`cold` images, 0 to skip), and the
    cost per image over `batches` consecutive batches of `batch` images."""
    rows = [np.ascontiguousarray(r[None, :]) for r in x[:singles]]
    out = {"single_median_us": _median_us(timed_calls(run, rows, len(rows), warmup))}
    if cold:
        flushed = timed_calls(run, rows[:cold], min(cold, len(rows)), 0, flush_caches=True)
        out["cold_single_median_us"] = _median_us(flushed)
    chunks = [x[batch * i : batch * (i + 1)] for i in range(batches)]
    out[f"batch{batch}_per_image_us"] = _median_us(timed_calls(run, chunks, batches, 0)) / batch
    return out


def _request_path_us(registry: ModelRegistry, bodies: list[bytes], trials: int) -> dict[str, float]:
    """The product's own work per request, in-process: parse + validate, both models, encode."""
    import orjson

    from mnist_serve.http.parsing import images_from_request
    from mnist_serve.http.responses import seed_answers

    def one(body: bytes) -> bytes:
        x, _ = images_from_request("application/json", body, 1)
        answer = seed_answers(registry.predict_all(x))[0]
        return orjson.dumps(answer, option=orjson.OPT_SERIALIZE_NUMPY)

    def parse_only(body: bytes) -> None:
        images_from_request("application/json", body, 1)

    return {
        f"{name}_median_us": _median_us(timed_calls(fn, bodies, trials))
        for name, fn in (("parse_validate", parse_only), ("full", one))
    }


def _json_bodies(images: np.ndarray) -> list[bytes]:
    """Seed-format request bodies ({"image_vector": [784 ints]}) for float images in [0, 1]."""
    import orjson

    pixels = np.rint(images * 255).astype(np.int64)
    return [orjson.dumps({"image_vector": row.tolist()}) for row in pixels]


def run_inference_bench(
    model_dir: Path, example: Path, trials: int = 1000, batch: int = 256, out: Path | None = None
) -> dict[str, Any]:
    registry = ModelRegistry.load(model_dir)
    x, _ = images_from_document(parse_json(example.read_bytes()), max_batch=1)
    xb = _batch_from_example(x, batch)
    # Distinct single images: the shifts give 49 variants, enough that no path is learned.
    varied = _batch_from_example(x, max(trials, 49), seed=1)
    rows = [np.ascontiguousarray(r[None, :]) for r in varied]
    results: dict[str, Any] = {
        "machine": {
            "cpu": cpu_name(),
            "cores": os.cpu_count(),
            "python": platform.python_version(),
        },
        "onnxruntime": ort.__version__,
        "trials": trials,
        "single_images": "distinct (the example shifted by up to 3 pixels, cycled)",
        "batch": batch,
        "models": {},
    }
    single_times: dict[str, list[float]] = {}
    for model in registry.models:
        times = timed_calls(model.predict_proba, rows, trials)
        repeated = timed_calls(model.predict_proba, [x], trials)
        proba = model.predict_proba(x)
        single_times[model.name] = times
        batch_times = timed_calls(model.predict_proba, [xb], max(5, trials // 50), warmup=0)
        cold = timed_calls(model.predict_proba, rows, max(50, trials // 5), 0, flush_caches=True)
        per_image = statistics.median(batch_times) / batch
        stats = _summary(times)
        seed = SEED_SINGLE_SECONDS.get(model.name)
        results["models"][model.name] = {
            "predicted_number": int(proba.argmax()),
            "single": stats,
            "single_repeated": _summary(repeated),
            "batched": {
                "batch": batch,
                "median_batch_us": statistics.median(batch_times) * 1e6,
                "per_image_us": per_image * 1e6,
                "images_per_second": 1 / per_image,
            },
            "cold_single_median_us": _median_us(cold),
            "seed_single_us": seed * 1e6 if seed else None,
            "speedup_vs_seed": seed / (stats["mean_us"] / 1e6) if seed else None,
        }
        print(
            f"{model.name}: {trials} inference trials took on average {stats['mean_us']:.1f} us "
            f"(median {stats['median_us']:.1f}, min {stats['min_us']:.1f}, max {stats['max_us']:.1f}, "
            f"std {stats['std_us']:.1f}); {stats['predictions_per_second']:.0f} predictions/s; "
            f"batch {batch}: {per_image * 1e6:.2f} us per image; the same image repeated: median "
            f"{results['models'][model.name]['single_repeated']['median_us']:.1f} us"
        )
    results["request_path"] = _request_path_us(registry, _json_bodies(varied), trials)
    print(
        "request path in-process (parse + validate + both models + encode): "
        f"{results['request_path']['full_median_us']:.1f} us median, of which parse + validate "
        f"{results['request_path']['parse_validate_median_us']:.1f} us"
    )
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(results, indent=2) + "\n")
        _plot(single_times, results, out.with_suffix(".png"))
    return results


def _plot(single_times: dict[str, list[float]], results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    for name, times in single_times.items():
        us = np.asarray(times) * 1e6
        left.hist(us[us < np.percentile(us, 99.5)], bins=60, alpha=0.6, label=name)
    left.set_xlabel("single-image latency (us)")
    left.set_ylabel("trials")
    left.set_title(f"{results['trials']} single predictions per model")
    left.legend()
    names = list(results["models"])
    single = [results["models"][n]["single"]["median_us"] for n in names]
    batched = [results["models"][n]["batched"]["per_image_us"] for n in names]
    pos = np.arange(len(names))
    right.bar(pos - 0.2, single, 0.4, label="single (median)")
    right.bar(pos + 0.2, batched, 0.4, label=f"batch of {results['batch']}, per image")
    right.set_xticks(pos, names)
    right.set_ylabel("microseconds per image")
    right.set_title(f"ONNX Runtime {results['onnxruntime']}, 1 thread")
    right.legend()
    fig.suptitle(f"mnist-serve inference speed ({results['machine']['cpu']})", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
