"""Rewrite the README's measured tables, figures and sample answer from the files behind them.

Two kinds of generated text, both marked in the README source and invisible when rendered:
sections (`<!-- NAME:start -->` ... `<!-- NAME:end -->`, the tables and the quick-start answer)
and inline figures in prose (`<!--f:NAME-->68 us<!--/f-->`). Every number in them comes from
the served models' `models/<name>/<version>/model.json`, a file under `benchmarks/results/`, or (the sample answer) the served
models themselves. Run this after `mnist-serve train`, `bench`, `loadtest` or a benchmark
script; tests/test_readme.py fails while the README differs from what this would write.
"""

from __future__ import annotations

import json
import math
import re
import statistics
from functools import cache
from pathlib import Path

from mnist_serve import repository

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
EXAMPLE = ROOT / "examples" / "mnist_image_example.json"
SECTION = re.compile(r"(<!-- ([\w-]+):start -->\n).*?(<!-- \2:end -->)", re.DOTALL)
FIGURE = re.compile(r"(<!--f:([\w-]+)-->).*?(<!--/f-->)", re.DOTALL)


@cache
def result(name: str) -> dict:
    """A results file by name (`inference` -> benchmarks/results/inference.json)."""
    return json.loads((RESULTS / f"{name}.json").read_text())


@cache
def load_manifest() -> dict:
    """The served models' model.json files, shaped as the tables read them."""
    models = served_models()
    return {"models": models, "data": models[0]["data"], "libraries": models[0]["libraries"]}


def served_models() -> list[dict]:
    """The model.json of each model's highest version in the shipped repository."""
    models = []
    for name in repository.model_names(ROOT / "models"):
        highest = repository.versions(ROOT / "models" / name)[0]
        meta = repository.read_model_json(repository.version_dir(ROOT / "models", name, highest))
        models.append({**meta, "artifact": repository.serving_artifact(meta)})
    return models


def accuracy_table() -> str:
    manifest = load_manifest()
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
    trained = {m["name"]: training_rows(m["data"]) for m in manifest["models"]}
    lines.append(
        (
            f"Trained on {next(iter(trained.values()))}"
            if len(set(trained.values())) == 1
            else "Trained: " + ", ".join(f"`{name}` on {rows}" for name, rows in trained.items())
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


def training_rows(data: dict) -> str:
    """How a model.json says its model was fit: rows, and what was held out."""
    if not data.get("val_rows"):
        return f"all {data['train_rows']:,} images (no holdout)"
    if data.get("refit_full"):
        return (
            f"{data['train_rows']:,} images (selection on a {data['val_rows']:,}-image "
            "seeded holdout, then refit on all)"
        )
    return f"{data['train_rows']:,} images, {data['val_rows']:,} held out for validation"


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
    if not (RESULTS / name).is_file():
        return "Not measured yet: run `make loadtest` on a quiet machine."
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
    bench = result("inference")
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


def _worker_class(cfg: dict) -> str:
    """Files written before MNIST_SERVE_WORKER_CLASS existed were measured with sync workers."""
    default = "gevent" if "worker_class" in cfg else "sync"
    chosen = cfg.get("worker_class", "auto")
    return (default if cfg["threads"] == 1 else "gthread") if chosen == "auto" else chosen


def loadtest_table(name: str = "loadtest.json") -> str:
    report = result(name.removesuffix(".json"))
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
        f"{_worker_class(cfg)} workers. From `benchmarks/results/{name}`."
    )
    return "\n".join(lines)


def targets_table() -> str:
    """Issue targets against the measured figures, all read from the results files."""
    bench, load, binary = result("inference"), result("loadtest"), result("loadtest-binary")
    batches = result("loadtest-batch256")
    product = next(r for r in load["runs"] if r["target"] == "product")
    ceiling = next(r for r in load["runs"] if r["target"] == "floor+models")
    ratios = load["ratios"][0]
    binary_ratios = binary["ratios"][0]
    binary_ratio = binary_ratios["product_over_floor"]
    models = bench["models"]
    images = {
        r["target"]: r["requests_per_second"] * batches["config"]["batch"] for r in batches["runs"]
    }
    # Both models alone, back to back on every core, from `bench`'s batch figures.
    models_alone = (
        bench["machine"]["cores"] * 1e6 / sum(m["batched"]["per_image_us"] for m in models.values())
    )

    def verdict(ok: bool) -> str:
        return "met" if ok else "**not met**"

    single = {n: m["single"]["median_us"] for n, m in models.items()}
    batched = {n: m["batched"]["per_image_us"] for n, m in models.items()}
    rows = [
        (
            "p99 <= 10 ms (issue 9: at default settings)",
            f"{product['latency_ms']['p99']:.1f} ms; floor+models, the ceiling: "
            f"{ceiling['latency_ms']['p99']:.1f} ms",
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
    rows += [
        (
            "issue 12: product >= 95% of floor+models (JSON, binary)",
            f"{ratios['product_over_floor_plus_models']:.0%}, "
            f"{binary_ratios['product_over_floor_plus_models']:.0%}",
            min(
                ratios["product_over_floor_plus_models"],
                binary_ratios["product_over_floor_plus_models"],
            )
            >= 0.95,
        ),
        (
            "issue 12: product >= 55% of the floor (JSON)",
            f"{ratios['product_over_floor']:.0%}",
            ratios["product_over_floor"] >= 0.55,
        ),
        (
            f"issue 12: >= {BATCH_TARGET:,} images/s in binary batches of 256",
            f"{images['product']:,.0f}; floor+models {images['floor+models']:,.0f}; "
            f"the two models alone on {bench['machine']['cores']} cores {models_alone:,.0f}",
            images["product"] >= BATCH_TARGET,
        ),
    ]
    lines = ["| target (2 cores, 16 connections, test images) | measured | |", "|---|---|---|"]
    lines += [f"| {t} | {m} | {verdict(ok)} |" for t, m, ok in rows]
    beyond = [
        what
        for what, missed in (
            ("the p99", ceiling["latency_ms"]["p99"] > 10),
            ("the batch throughput", images["floor+models"] < BATCH_TARGET),
        )
        if missed
    ]
    if beyond:
        lines += [
            "",
            f"On this machine {' and '.join(beyond)} target{'s' if len(beyond) > 1 else ''} "
            "lie beyond even the floor+models app, which does nothing but run the two models: "
            "no request handling can reach them here.",
        ]
    return "\n".join(lines)


# Sections whose results the lead measures on a quiet machine (`make production`): until the
# file exists they say so instead of showing numbers from a busy one.
NOT_MEASURED = "_Not measured yet: run `make production`._"


def serving_options_table() -> str:
    """Worker class and count, keep-alive, nginx in front: from benchmarks/serving_options.py."""
    if not (RESULTS / "serving_options.json").is_file():
        return NOT_MEASURED
    report = result("serving_options")
    lines = [
        "| option | req/s | p50 | p99 | errors | normal client beside "
        f"{report['slow_clients']} slow clients: p99 | failed |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in report["options"]:
        low, high = r["rps_range"]
        lines.append(
            f"| {r['option']} | **{r['requests_per_second']:,.0f}** ({low:,.0f}-{high:,.0f}) | "
            f"{r['p50_ms']:.2f} ms | {r['p99_ms']:.2f} ms | {r['errors']} | "
            f"{r['normal_p99_ms_beside_slow_clients']:,.1f} ms | "
            f"{r['normal_failed_beside_slow_clients']} of {r['normal_requests']} |"
        )
    lines.append("")
    lines.append(
        f"Median of {report['rounds']} interleaved rounds (req/s range in brackets); wrk, "
        f"{report['connections']} connections, {report['duration_s']:.0f} s per run, example JSON, "
        f"{report['cpu_count']} cores; a normal request fails after 5 s without an answer. "
        "From `benchmarks/results/serving_options.json`."
    )
    return "\n".join(lines)


def faults_table() -> str:
    """What each fault cost under load: from `mnist-serve faults`."""
    if not (RESULTS / "faults.json").is_file():
        return NOT_MEASURED
    report = result("faults")
    s, ok = report["scenarios"], report["verdicts"]
    cfg = report["config"]

    def mark(name: str) -> str:
        return "met" if ok.get(name) else "**not met**"

    rows = []
    if "sigkill" in s:
        r = s["sigkill"]
        rows.append(
            (
                "one worker SIGKILLed under load",
                "<= 0.1% failed",
                f"{r['failed']} of {r['requests']:,} failed ({r['failed_percent']:.3f}%)",
                "sigkill",
            )
        )
    if "sighup" in s:
        r = s["sighup"]
        rows.append(
            (
                "two SIGHUPs (reload) under load",
                "0 failed",
                f"{r['failed']} of {r['requests']:,} failed",
                "sighup",
            )
        )
    if "sigterm" in s:
        r = s["sigterm"]
        rows.append(
            (
                "SIGTERM with requests in flight",
                "all answered",
                f"{r['in_flight_answered_200']} of {r['in_flight']} answered 200, exit {r['exit_code']}",
                "sigterm",
            )
        )
    if "soak" in s:
        r = s["soak"]
        rows.append(
            (
                f"soak, {r['seconds']:.0f} s",
                "0 errors, RSS growth < 10%",
                f"{r['requests']:,} requests, {r['failed']} failed, worker RSS "
                f"{r['rss_mib_before']} -> {r['rss_mib_after']} MiB ({r['rss_growth_percent']:+.1f}%)",
                "soak",
            )
        )
    if "slow_clients" in s:
        r = s["slow_clients"]
        rows.append(
            (
                f"{r['slow_clients']} slow clients (half headers, half bodies)",
                "normal p99 <= 100 ms, 0 failed",
                f"normal client p99 {r['normal']['p99_ms']:.1f} ms, "
                f"{r['normal']['failed']} of {r['normal']['requests']} failed",
                "slow_clients",
            )
        )
    if "kill_all" in s:
        r = s["kill_all"]
        rows.append(
            (
                "every worker SIGKILLed at once",
                "comes back by itself",
                f"ready again after {r['seconds_to_ready']:.1f} s",
                "kill_all",
            )
        )
    lines = ["| fault | target | measured | |", "|---|---|---|---|"]
    lines += [f"| {a} | {b} | {c} | {mark(n)} |" for a, b, c, n in rows]
    lines.append("")
    env = report.get("server_env") or {}
    lines.append(
        f"{cfg['workers']} workers ({env.get('MNIST_SERVE_WORKER_CLASS', 'default worker class')}), "
        f"wrk with {cfg['connections']} connections, {cfg['duration']:.0f} s of load around each "
        f"signal, on {report['cpu_count']} cores. From `benchmarks/results/faults.json`."
    )
    return "\n".join(lines)


# --- inline figures in the prose ---------------------------------------------------------


def _us(value: float) -> str:
    return f"{value:.0f} us"


def _span(values: list[float], fmt: str = "{:.0f}") -> str:
    """'14-32' for several values, '14' for one."""
    low, high = fmt.format(min(values)), fmt.format(max(values))
    return low if low == high else f"{low}-{high}"


def _rows(name: str, key: str) -> dict:
    return {r[key]: r for r in result(name)["rows"]}


def _mlp_dense(hidden: tuple[int, int]) -> dict:
    return next(
        r
        for r in result("mlp_tradeoff")["rows"]
        if tuple(r["hidden"]) == hidden and r.get("graph", "dense") == "dense"
    )


def _mlp_smaller() -> str:
    base = _mlp_dense((512, 384))
    parts = []
    for hidden in ((384, 256), (256, 256)):
        row = _mlp_dense(hidden)
        less = (base["val_accuracy"] - row["val_accuracy"]) * 100
        parts.append(
            f"{hidden[0]}x{hidden[1]} {_us(row['single_median_us'])} for {less:.2f} points "
            "less validation accuracy"
        )
    return ", ".join(parts)


def _robustness() -> str:
    report = result("image_robustness")
    scenarios = [s for s in report["scenarios"].values() if s["criterion"]]
    worst = max(s[m]["drop_points"] for s in scenarios for m in report["original"])
    ranges = ", ".join(
        f"{'MLP' if m == 'mlp' else 'XGBoost'} v{report['models'][m]['version']} "
        f"{report['original'][m]:.2f} -> "
        + _span([s[m]["accuracy"] for s in scenarios], "{:.2f}").replace("-", "..")
        for m in report["original"]
    )
    return f"within {worst:.2f} points of their accuracy on the original vectors ({ranges})"


def _xgb_rounds() -> str:
    rows = _rows("xgb_tradeoff", "rounds")
    return ", ".join(
        f"{k} rounds {rows[k]['test_accuracy']:.2%} at {_us(rows[k]['single_median_us'])}"
        for k in sorted(rows)
        if k >= 100
    )


def _xgb_150_vs_100() -> str:
    rows = _rows("xgb_tradeoff", "rounds")
    gain = (rows[150]["test_accuracy"] - rows[100]["test_accuracy"]) * 100
    cost = rows[150]["single_median_us"] / rows[100]["single_median_us"]
    return f"150 gain {gain:.2f} test points for {cost:.1f}x"


def _xgb_split_gain() -> str:
    rows = _rows("xgb_tradeoff", "rounds")

    def faster(k: int, kind: str) -> float:
        row = rows[k]
        return (1 - row[f"{kind}_us"] / row[f"classifier_{kind}_us"]) * 100

    return (
        f"{faster(100, 'single_median'):.0f}% (100 rounds) to {faster(150, 'single_median'):.0f}% "
        f"(150 rounds) faster alone, {faster(100, 'batch256_per_image'):.0f}% per image in a batch"
    )


def _xgb_shapes() -> str:
    rows = result("xgb_shapes")["rows"]
    base, others = rows[0], rows[1:]
    faster = [(1 - r["single_median_us"] / base["single_median_us"]) * 100 for r in others]
    lose = [(base["val_accuracy"] - r["val_accuracy"]) * 100 for r in others]
    cold = [r["cold_single_median_us"] for r in others]
    size = [r["onnx_bytes"] / base["onnx_bytes"] for r in others]
    return (
        f"They are {_span(faster)}% faster warm, but lose {_span(lose, '{:.2f}')} validation "
        f"points and are no faster with a cold cache ({_span(cold)} us against "
        f"{_us(base['cold_single_median_us'])}): their nodes are spread over "
        f"{_span(size, '{:.1f}')}x the bytes"
    )


def _xgb_versions() -> str:
    """The served XGBoost against the previous version, from `benchmarks/xgb_compare.py`."""
    old, new = result("xgb_compare")["models"][:2]
    ratio = new["paired_ratio_to_baseline"]

    def version(row: dict) -> str:
        return Path(row["model"]).parent.name

    return (
        f"version {version(new)} costs {ratio['single_us']:.2f}x version {version(old)}'s time "
        f"for one image ({ratio['cold_single_us']:.2f}x with a cold cache) and "
        f"{ratio['batch256_per_image_us']:.2f}x per image in a batch of 256, in "
        f"{result('xgb_compare')['rounds']} interleaved rounds, with "
        f"{new['onnx_bytes'] / old['onnx_bytes']:.1f}x the bytes"
    )


def _ratio(name: str, key: str) -> float:
    return result(name)["ratios"][0][key]


def _seed_style_reach() -> str:
    """Whether >= 100x the seed-style path lies within the floor+models ceiling in this run."""
    by = {r["target"]: r["requests_per_second"] for r in result("loadtest")["runs"]}
    ceiling = by["floor+models"] / by["seed-style"]
    product = by["product"] / by["seed-style"]
    if ceiling < 100:
        return (
            f"Neither can >= 100x the seed-style path: the ceiling itself is {ceiling:.0f}x it "
            f"(the product {product:.0f}x)"
        )
    return (
        f">= 100x the seed-style path lies within the ceiling ({ceiling:.0f}x it), so what the "
        f"product misses of it is its own request handling: it measures {product:.0f}x"
    )


def _models_share() -> str:
    sweep = [r["floor_plus_models_over_floor"] for r in result("loadtest-sweep")["ratios"]]
    return (
        f"{_ratio('loadtest', 'floor_plus_models_over_floor'):.0%} of the floor "
        f"({_span([v * 100 for v in sweep])}% across the worker sweep)"
    )


def _product_share() -> str:
    json_, binary = (
        _ratio(n, "product_over_floor_plus_models") for n in ("loadtest", "loadtest-binary")
    )
    costs = [(1 - v) * 100 for v in (json_, binary)]
    return (
        f"{json_:.0%} of the ceiling with JSON and {binary:.0%} with binary input: its own "
        f"request handling (parsing, validation, routing, encoding) costs it {_span(costs)}%"
    )


def _run_spread() -> str:
    spreads = [
        (max(r["requests_per_second_all"]) - min(r["requests_per_second_all"]))
        / r["requests_per_second"]
        * 100
        for name in ("loadtest", "loadtest-sweep", "loadtest-binary")
        for r in result(name)["runs"]
        if r.get("requests_per_second_all")
    ]
    return f"{max(spreads):.0f}%"


def _cold_vs_warm() -> str:
    models = result("inference")["models"].values()
    cold = [m["cold_single_median_us"] for m in models]
    warm = [m["single"]["median_us"] for m in models]
    return f"{_span(cold)} us single-image with caches flushed, against {_span(warm)} us warm"


def _profile() -> str:
    share = result("profile")["share_of_worker_samples"]
    gunicorn = sum(v for k, v in share.items() if k.startswith("Gunicorn"))
    return (
        f"ONNX Runtime {share['ONNX Runtime (both models)']:.0%} of the worker's time, Flask's "
        f"own request/response machinery {share['Flask request/response machinery']:.0%}, "
        f"Gunicorn's HTTP reading, writing and closing {gunicorn:.0%}, our parsing and "
        f"validation {share['request parsing and validation']:.0%}, answer building and "
        f"encoding {share['answer building and JSON encoding']:.0%}, the rest "
        f"{share['other']:.0%}"
    )


def _preload() -> str:
    runs = {r["preload"]: r for r in result("preload")["runs"]}
    on, off = runs[True], runs[False]
    return (
        f"finds {on['total_pss_mib']:.0f} MiB of memory in all (PSS) with preloading against "
        f"{off['total_pss_mib']:.0f} MiB without, and ready in {on['seconds_to_ready']:.2f} s "
        f"against {off['seconds_to_ready']:.2f} s"
    )


def _bench(model: str, *keys: str) -> float:
    value = result("inference")["models"][model]
    for key in keys:
        value = value[key]
    return value


def _mlp_shapes() -> str:
    report = result("mlp_shapes")
    names = {"sparse_fp32": "sparse fp32", "dense_fp32": "dense fp32", "int8": "int8"}
    medians = ", ".join(f"{names[k]} {v:,.0f}" for k, v in report["median"].items())
    spread = max(
        (max(runs) - min(runs)) / statistics.median(runs) * 100
        for runs in report["requests_per_second"].values()
    )
    return (
        f"{medians} req/s (medians of {report['config']['repeat']} rounds, whose runs spread by "
        f"up to {spread:.0f}% of their median)"
    )


FIGURES = {
    "mlp-shapes": _mlp_shapes,
    "robustness": _robustness,
    "xgb-150-vs-100": _xgb_150_vs_100,
    "retrain-minutes": lambda: (
        f"{sum(m['train_seconds'] for m in load_manifest()['models']) / 60:.0f} minutes"
    ),
    "mlp-smaller": _mlp_smaller,
    "xgb-repeated": lambda: _us(_bench("xgboost", "single_repeated", "median_us")),
    "xgb-distinct": lambda: _us(_bench("xgboost", "single", "median_us")),
    "xgb-rounds": _xgb_rounds,
    "xgb-split-gain": _xgb_split_gain,
    "xgb-batch": lambda: _us(_bench("xgboost", "batched", "per_image_us")),
    "mlp-batch": lambda: f"{_bench('mlp', 'batched', 'per_image_us'):.1f} us",
    "xgb-shapes": _xgb_shapes,
    "xgb-versions": _xgb_versions,
    "seed-style-reach": _seed_style_reach,
    "xgb-50-rounds": lambda: (
        f"{_rows('xgb_tradeoff', 'rounds')[50]['batch256_per_image_us']:.0f} us per image in a "
        f"batch and score {_rows('xgb_tradeoff', 'rounds')[50]['test_accuracy']:.2%}"
    ),
    "run-spread": _run_spread,
    "models-share": _models_share,
    "product-share": _product_share,
    "cold-vs-warm": _cold_vs_warm,
    "profile": _profile,
    "parse-validate": lambda: _us(result("inference")["request_path"]["parse_validate_median_us"]),
    "preload": _preload,
}
# "Scaling out": capacity.json, replicas.json and the HPA manifest.
HPA = ROOT / "deploy" / "kubernetes" / "base" / "hpa.yaml"
EXAMPLE_LOADS = (1_000, 5_000, 20_000)


def hpa_target() -> int:
    import yaml  # PyYAML: in the dev extra (via the test tools), not needed for other tables

    hpa = yaml.safe_load(HPA.read_text())
    [metric] = hpa["spec"]["metrics"]
    return metric["resource"]["target"]["averageUtilization"]


def replicas_for(load: float, per_pod: float, target_percent: int) -> int:
    """Pods the HPA settles on: each pod kept at target% of the CPU it requests."""
    return math.ceil(load / (per_pod * target_percent / 100))


def capacity_table() -> str:
    cap = json.loads((RESULTS / "capacity.json").read_text())
    workers = cap["config"]["workers"]
    per_core = cap["requests_per_second_per_core"]
    per_pod = per_core * workers
    target = hpa_target()
    mem = cap["memory_mib"]
    rec = cap["recommended"]
    lines = [
        "| measured (`benchmarks/results/capacity.json`) | value |",
        "|---|---|",
        f"| one server, {workers} workers, saturated ({cap['config']['connections']} connections, "
        f"{cap['config']['duration_s']:.0f} s) | {cap['requests_per_second']:,.0f} req/s on "
        f"{cap['cpu_cores_used']:.2f} cores |",
        f"| **requests/s per core** | **{per_core:,.0f}** |",
        f"| memory, all processes (PSS), idle -> peak | {mem['idle_pss']:.0f} -> "
        f"{mem['peak_pss']:.0f} MiB (RSS summed: {mem['peak_rss_sum']:.0f} MiB) |",
        f"| container resources (requests / limits) | CPU {rec['cpu_request']} / "
        f"{rec['cpu_limit']}, memory {rec['memory_request']} / {rec['memory_limit']} |",
        "",
        f"A pod of {workers} workers requests {workers} cores, so it serves up to "
        f"{per_core:,.0f} x {workers} = **{per_pod:,.0f} req/s**. The HPA keeps pods at "
        f"{target}% of their CPU request, i.e. {per_pod * target / 100:,.0f} req/s each, so for a "
        "load of L req/s it settles on ceil(L / "
        f"{per_pod * target / 100:,.0f}) pods:",
        "",
        "| load | pods at the HPA target | + 1 for a pod lost (PDB, node drain) |",
        "|---|---|---|",
    ]
    for load in EXAMPLE_LOADS:
        n = replicas_for(load, per_pod, target)
        lines.append(f"| {load:,} req/s | {n} | {n + 1} |")
    lines.append("")
    lines.append(
        f"The {100 - target}% left is the headroom that absorbs a burst while new pods start "
        "(how long a new replica takes to be ready: below the replicas table); set `maxReplicas` to "
        "your peak's pod count and `minReplicas` to at least 2."
    )
    return "\n".join(lines)


def replicas_table() -> str:
    report = json.loads((RESULTS / "replicas.json").read_text())
    cfg = report["config"]
    phases = list(report["runs"][0]["phases"])
    lines = [
        "| nginx | " + " | ".join(phases) + " | all | req/s |",
        "|---" * (len(phases) + 3) + "|",
    ]
    for r in report["runs"]:
        cells = [f"{p['failed']} of {p['requests']:,}" for p in (r["phases"][n] for n in phases)]
        lines.append(
            f"| {'retry on connection errors' if r['retry'] else 'no retry'} | "
            + " | ".join(cells)
            + f" | **{r['failed']} of {r['requests']:,}** | {r['requests_per_second']:,.0f} |"
        )
    lines.append("")
    lines.append(
        f"Failed requests per phase, {cfg['replicas']} replicas x {cfg['workers_per_replica']} "
        f"worker(s), {cfg['clients']} clients on new connections, {cfg['hold_s']} s between "
        f"events, {cfg['balancer']}, {cfg['cores']} cores shared by everything."
    )
    ready = sorted(t for r in report["runs"] for t in r.get("seconds_to_ready", []))
    if ready:
        lines.append(
            f"A replica (re)started under this load was ready (models loaded, verified, warmed) "
            f"in {ready[len(ready) // 2]:.1f} s median, {ready[-1]:.1f} s at most "
            f"({len(ready)} starts)."
        )
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
    "metrics-overhead": lambda: metrics_overhead_table(),
    "serving-options": serving_options_table,
    "faults": faults_table,
    "capacity": capacity_table,
    "replicas": replicas_table,
}


def metrics_overhead_table() -> str:
    """Throughput with metrics on and off, from `make metrics-overhead`'s interleaved rounds."""
    path = RESULTS / "metrics_overhead.json"
    if not path.is_file():  # measured on a quiet machine before release, never here and now
        return "Not measured yet: run `make metrics-overhead` on a quiet machine."
    report = json.loads(path.read_text())
    lines = ["| metrics | requests/s (median) | all rounds | p99 ms |", "|---|---|---|---|"]
    for run in report["runs"]:
        label = "off" if run["target"] == "product-no-metrics" else "on"
        rounds = ", ".join(f"{v:,.0f}" for v in run.get("requests_per_second_all", []))
        lines.append(
            f"| {label} | {run['requests_per_second']:,.0f} | {rounds or '-'} | "
            f"{run['latency_ms']['p99']:.1f} |"
        )
    (ratio,) = [r for r in report["ratios"] if "metrics_cost" in r]
    config = report["config"]
    lines.append("")
    lines.append(
        f"Cost of the metrics: **{ratio['metrics_cost']:.1%}** of throughput "
        f"({ratio['workers']} workers, {config['connections']} connections, {config['payload']} "
        f"payload, {config['repeat']} interleaved rounds of {config['duration']:.0f} s; "
        f"`benchmarks/results/metrics_overhead.json`)."
    )
    return "\n".join(lines)


def render(text: str) -> str:
    """The README with every marked section and figure rewritten from its source. A marker
    without a renderer, or a renderer whose file is missing, is an error, not a skip."""

    def section(match: re.Match) -> str:
        return match.group(1) + SECTIONS[match.group(2)]() + "\n" + match.group(3)

    def figure(match: re.Match) -> str:
        return match.group(1) + FIGURES[match.group(2)]() + match.group(3)

    return FIGURE.sub(figure, SECTION.sub(section, text))


def main() -> None:
    readme = ROOT / "README.md"
    readme.write_text(render(readme.read_text()))
    print(f"updated {readme}")


if __name__ == "__main__":
    main()
