"""Rewrite the README's measured tables from the files the commands wrote.

Every number in those README sections comes from the served `models/<name>/<version>/model.json`
files or a file under
`benchmarks/results/`; run this after `mnist-serve train`, `bench` or `loadtest`.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from mnist_serve import repository

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"


def served_models() -> list[dict]:
    """The model.json of each model's highest version in the shipped repository."""
    models = []
    for name in repository.model_names(ROOT / "models"):
        highest = repository.versions(ROOT / "models" / name)[0]
        meta = repository.read_model_json(repository.version_dir(ROOT / "models", name, highest))
        models.append({**meta, "artifact": repository.serving_artifact(meta)})
    return models


def accuracy_table() -> str:
    manifest = {"models": served_models()}
    manifest["data"] = manifest["models"][0]["data"]
    seed = {"mlp": ("99.59%", "97.62%", "97.81%"), "xgboost": ("99.01%", "-", "96.40%")}
    lines = [
        "| model | train | validation (holdout) | **test (10k MNIST)** | seed's test | artifact |",
        "|---|---|---|---|---|---|",
    ]
    for m in manifest["models"]:
        metrics = m["metrics"]
        val = f"{metrics['val_accuracy']:.2%}" if metrics.get("val_accuracy") else "-"
        lines.append(
            f"| `{m['name']}` v{m['version']} | {metrics['train_accuracy']:.2%} | {val} | "
            f"**{metrics['test_accuracy']:.2%}** | {seed.get(m['name'], ('', '', '-'))[2]} | "
            f"`{m['artifact']['path']}` ({m['artifact']['bytes'] / 1e6:.1f} MB) |"
        )
    data = manifest["data"]
    lines.append("")
    lines.append(
        f"Trained on {data['train_rows']:,} images"
        + (
            f" (selection on a {data['val_rows']:,}-image seeded holdout, then refit on all)"
            if data.get("refit_full")
            else f", {data['val_rows']:,} held out for validation"
        )
        + f"; tested on {data['test_rows']:,}. Export parity (ONNX vs original, every test image): "
        + ", ".join(
            f"`{m['name']}` max |diff| {m['export_parity']['max_abs_diff']:.1e}, "
            f"{m['export_parity']['argmax_disagreements']} argmax disagreements"
            for m in manifest["models"]
        )
        + "."
    )
    if int8_line(manifest["models"]):
        lines += ["", int8_line(manifest["models"])]
    return "\n".join(lines)


def int8_line(models: list[dict]) -> str:
    """The served int8 MLP's export check, from its model.json."""
    lines = []
    for m in models:
        check = m.get("quantization")
        if not check:
            continue
        batch, single = check["batch"], check["single"]
        lines.append(
            f"`{m['name']}` serves its int8 artifact (`{m['artifact']['path']}`, "
            f"{m['artifact']['bytes'] / 1e6:.1f} MB): test accuracy {batch['int8_test_accuracy']:.2%} "
            f"against {check['float_test_accuracy']:.2%} for the float model, the same digit as "
            f"Keras on {batch['argmax_agreement']:.2%} of the test images in batches and "
            f"{single['argmax_agreement']:.2%} one at a time (checked at export: at most "
            f"{check['max_drop_points']} points lost, at least {check['min_argmax_agreement']:.1%} "
            "agreement). `MNIST_SERVE_PRECISION=fp32` serves the float32 graph instead."
        )
    return "\n".join(lines)


def handwriting_table() -> str:
    """`mnist-serve handwriting`: real digits from another data set, through the image path."""
    report = json.loads((RESULTS / "handwriting.json").read_text())
    models = list(report["models"])
    lines = [
        "| split (UCI optdigits, as PNG files) | digits | "
        + " | ".join(
            f"`{m}` v{report['models'][m]['version']} ({report['models'][m]['precision']})"
            for m in models
        )
        + " |",
        "|---|---|" + "---|" * len(models),
    ]
    for split, entry in report["splits"].items():
        role = "tuning (looked at)" if split == "tuning" else "**evaluation** (reported)"
        lines.append(
            f"| {role}, rows {entry['rows'][0]}..{entry['rows'][1] - 1} | {entry['digits']} | "
            + " | ".join(f"{entry[m]:.2f}%" for m in models)
            + " |"
        )
    verdict = "met" if report["ok"] else "**not met**"
    lines += ["", f"Target: {report['target_points']:.0f}% on the evaluation split: {verdict}."]
    return "\n".join(lines)


def quickstart_answer() -> str:
    """The seed endpoint's answer to the example, computed by the served models in-process
    (tests/test_readme.py checks it against a running server)."""
    import orjson

    from mnist_serve.config import load_settings
    from mnist_serve.http.parsing import images_from_document
    from mnist_serve.http.responses import seed_answers
    from mnist_serve.runtime import ModelRegistry

    example = orjson.loads((ROOT / "examples" / "mnist_image_example.json").read_bytes())
    x, _ = images_from_document(example, max_batch=1)
    settings = load_settings(model_dir=ROOT / "models")
    registry = ModelRegistry.load(settings.model_dir, settings.precision)
    answer = seed_answers(registry.predict_all(x))[0]
    parts = [
        orjson.dumps({name: value}, option=orjson.OPT_SERIALIZE_NUMPY).decode()[1:-1]
        for name, value in answer.items()
    ]
    return "```json\n{" + ",\n ".join(parts) + "}\n```"


BATCH_TARGET = 50_000  # images/s, binary batches of 256 over HTTP (issue 12)


def batch_table(name: str = "loadtest-batch256.json") -> str:
    """Images per second for batch payloads: requests/s times the images per request."""
    report = json.loads((RESULTS / name).read_text())
    cfg = report["config"]
    lines = [
        "| target | workers | requests/s | **images/s** |",
        "|---|---|---|---|",
    ]
    product = None
    for r in report["runs"]:
        images = r["requests_per_second"] * cfg["batch"]
        product = images if r["target"] == "product" else product
        lines.append(
            f"| {r['target']} | {r.get('workers', '')} | {r['requests_per_second']:,.0f}"
            f"{_spread(r)} | **{images:,.0f}** |"
        )
    verdict = "met" if product is not None and product >= BATCH_TARGET else "**not met**"
    lines += [
        "",
        f"`{cfg['payload']}` payload, {cfg['batch']} images per request to `{cfg['endpoint']}`, "
        f"{cfg['connections']} connections, median of {cfg.get('repeat', 1)} interleaved runs of "
        f"{cfg['duration']:.0f} s, {report['machine']['cores']} cores ({report['machine']['cpu']}). "
        f"Target {BATCH_TARGET:,} images/s for the product: {verdict}. "
        f"From `benchmarks/results/{name}`.",
    ]
    return "\n".join(lines)


def inference_table() -> str:
    bench = json.loads((RESULTS / "inference.json").read_text())
    lines = [
        "| model | mean | median | p99 | min | max | std | predictions/s | per image, batch of "
        f"{bench['batch']} | seed (mean) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    cold = []
    for name, m in bench["models"].items():
        s = m["single"]
        lines.append(
            f"| `{name}` | {s['mean_us']:.1f} us | **{s['median_us']:.1f} us** | {s['p99_us']:.1f} us | "
            f"{s['min_us']:.1f} us | {s['max_us']:.0f} us | {s['std_us']:.1f} us | "
            f"{s['predictions_per_second']:,.0f} | {m['batched']['per_image_us']:.2f} us | "
            f"{m['seed_single_us']:.0f} us |"
        )
        if "cold_single_median_us" in m:
            cold.append(f"`{name}` {m['cold_single_median_us']:.0f} us")
    lines.append("")
    lines.append(
        f"{bench['trials']} single predictions per model, each on a different image (the example "
        f"shifted by up to 3 pixels), ONNX Runtime {bench['onnxruntime']} with one thread, on "
        f"{bench['machine']['cpu']} ({bench['machine']['cores']} cores)."
    )
    repeated = [
        f"`{name}` {m['single_repeated']['median_us']:.0f} us"
        for name, m in bench["models"].items()
        if "single_repeated" in m
    ]
    if repeated:
        lines.append(
            "Timed the seed's way, one image over and over, the medians are "
            + ", ".join(repeated)
            + ": the branch predictor learns the trees' paths, which real traffic never allows."
        )
    if cold:
        lines.append(
            "Single image with caches flushed first (what a request under load sees): "
            + ", ".join(cold)
            + "."
        )
    path = bench.get("request_path")
    if path:
        lines.append(
            f"The product's whole in-process work per JSON request (parse and validate, both "
            f"models, encode the answer): **{path['full_median_us']:.0f} us** median, of which "
            f"parsing and validation {path['parse_validate_median_us']:.0f} us."
        )
    return "\n".join(lines)


def _spread(run: dict) -> str:
    """' (2,225-2,510)': the range over repeated runs, when there were some."""
    every = run.get("requests_per_second_all")
    return f" ({min(every):,.0f}-{max(every):,.0f})" if every else ""


def loadtest_table(name: str = "loadtest.json") -> str:
    path = RESULTS / name
    report = json.loads(path.read_text())
    cfg = report["config"]
    lines = [
        "| target | workers | req/s | p50 | p90 | p99 | max | errors | non-2xx | RSS/worker | start to ready |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in report["runs"]:
        lat = r["latency_ms"]
        errors = sum(v for k, v in r["errors"].items() if k != "non_2xx")
        mem = r.get("memory", {})
        lines.append(
            f"| {r['target']} | {r.get('workers', '')} | **{r['requests_per_second']:,.0f}**"
            f"{_spread(r)} | "
            f"{lat['p50']:.2f} ms | {lat['p90']:.2f} ms | {lat['p99']:.2f} ms | {lat['max']:.1f} ms | "
            f"{errors} | {r['errors']['non_2xx']} | {mem.get('rss_mib_per_worker', '-')} MiB | "
            f"{r.get('seconds_to_ready', '-')} s |"
        )
    lines.append("")
    for row in report["ratios"]:
        parts = [f"{row['workers']} worker(s):"]
        if "product_over_floor" in row:
            parts.append(f"product / floor = **{row['product_over_floor']:.1%}**")
        if "product_over_seed_style" in row:
            parts.append(f"product / seed-style = **{row['product_over_seed_style']:.0f}x**")
        if "product_over_floor_plus_models" in row:
            parts.append(
                f"product / (floor+models) = **{row['product_over_floor_plus_models']:.1%}**"
            )
        if "floor_plus_models_over_floor" in row:
            parts.append(f"(floor+models) / floor = **{row['floor_plus_models_over_floor']:.1%}**")
        lines.append(f"- {parts[0]} " + ", ".join(parts[1:]))
    lines.append("")
    lines.append(
        (
            f"req/s is the median of {cfg['repeat']} interleaved runs per target (range in "
            "brackets); the other columns are from that median run. "
            if cfg.get("repeat", 1) > 1
            else ""
        )
        + f"`{cfg['payload']}` payload, {cfg['connections']} connections, {cfg['duration']:.0f} s per run "
        f"after {cfg['warmup']:.0f} s of warm-up, wrk with {cfg['wrk_threads']} threads on the same "
        f"{report['machine']['cores']}-core machine ({report['machine']['cpu']}); Gunicorn "
        f"{'sync' if cfg['threads'] == 1 else 'gthread'} workers. From `benchmarks/results/{name}`."
    )
    return "\n".join(lines)


def targets_table() -> str:
    """Issue targets against the measured figures, all read from the results files."""
    bench = json.loads((RESULTS / "inference.json").read_text())
    load = json.loads((RESULTS / "loadtest.json").read_text())
    binary = json.loads((RESULTS / "loadtest-binary.json").read_text())
    product = next(r for r in load["runs"] if r["target"] == "product")
    ratios = load["ratios"][0]
    binary_ratio = binary["ratios"][0]["product_over_floor"]
    models = bench["models"]

    def verdict(ok: bool) -> str:
        return "met" if ok else "**not met**"

    single = {n: m["single"]["median_us"] for n, m in models.items()}
    batched = {n: m["batched"]["per_image_us"] for n, m in models.items()}
    rows = [
        (
            "p99 <= 10 ms",
            f"{product['latency_ms']['p99']:.1f} ms",
            product["latency_ms"]["p99"] <= 10,
        ),
        (
            ">= 85% of the floor's requests/s",
            f"{ratios['product_over_floor']:.0%}",
            ratios["product_over_floor"] >= 0.85,
        ),
        (
            ">= 100x the seed-style path",
            f"{ratios['product_over_seed_style']:.0f}x",
            ratios["product_over_seed_style"] >= 100,
        ),
        ("binary input >= 90% of the floor", f"{binary_ratio:.0%}", binary_ratio >= 0.9),
        (
            "each model <= 60 us median per single image, in-process",
            ", ".join(f"{n} {v:.0f} us" for n, v in single.items()),
            all(v <= 60 for v in single.values()),
        ),
        (
            "both models <= 10 us per image at batch 256",
            ", ".join(f"{n} {v:.1f} us" for n, v in batched.items()),
            all(v <= 10 for v in batched.values()),
        ),
    ]
    lines = ["| target (2 cores, 16 connections, example JSON) | measured | |", "|---|---|---|"]
    lines += [f"| {t} | {m} | {verdict(ok)} |" for t, m, ok in rows]
    return "\n".join(lines)


SECTIONS = {
    "quickstart-answer": quickstart_answer,
    "handwriting": handwriting_table,
    "loadtest-batch256": batch_table,
    "targets": targets_table,
    "accuracy": accuracy_table,
    "inference": inference_table,
    "loadtest": loadtest_table,
    "loadtest-sweep": lambda: loadtest_table("loadtest-sweep.json"),
    "loadtest-binary": lambda: loadtest_table("loadtest-binary.json"),
}


def main() -> None:
    readme = ROOT / "README.md"
    text = readme.read_text()
    for name, render in SECTIONS.items():
        pattern = re.compile(rf"(<!-- {name}:start -->\n).*?(<!-- {name}:end -->)", re.DOTALL)
        if not pattern.search(text):
            continue
        try:
            table = render()
        except FileNotFoundError as exc:
            print(f"{name}: skipped ({exc.filename} missing)")
            continue
        text = pattern.sub(lambda m, t=table: m.group(1) + t + "\n" + m.group(2), text)
    readme.write_text(text)
    print(f"updated {readme}")


if __name__ == "__main__":
    main()
