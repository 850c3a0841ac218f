"""The MLP's graph shapes under load: which one serves more requests per second.

Builds, from the shipped MLP's float32 weights, three served variants and loads each with wrk
through the real product (Gunicorn, default settings, the seed's JSON example), interleaved
round after round so that a busy spell of a shared machine hits them all alike:

- `sparse_fp32`: for one image, only the lit pixels' weight rows (If/NonZero/Gather), dense for
  batches: the export until issue 12 (44 us per single image alone, against 68 us dense).
- `dense_fp32`: the plain MatMul/Add/Relu graph tf2onnx writes (the shipped fp32 variant).
- `int8`: ONNX Runtime's dynamic quantization of the dense graph (the shipped default).

Relative figures from one run are what count; results go to benchmarks/results/mlp_shapes.json
and a plot beside it.

    .venv/bin/python benchmarks/mlp_shapes.py --repeat 3 --duration 10
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from pathlib import Path

import onnx

from mnist_serve import repository
from mnist_serve.config import PROJECT_ROOT, load_settings
from mnist_serve.data import sha256_file
from mnist_serve.loadtest import (
    BodyFiles,
    GunicornServer,
    LoadTestConfig,
    request_bodies,
    run_wrk,
)
from mnist_serve.training import INPUT_NAME, quantize_mlp

VARIANTS = ("sparse_fp32", "dense_fp32", "int8")


def sparse_single_image(model):
    """For one image, multiply only the first layer's weight rows whose pixel is not zero.

    The export's graph for one image until issue 12, kept here to measure it against the rest.
    Same layers, same weights: an MNIST digit lights about a fifth of its 784 pixels, and the
    first layer's 1.6 MB of weights do not fit the 2 MB L2 cache next to the rest, so reading
    only the rows that matter cuts a single image from 68 to 44 us (`mnist-serve bench`). Batches
    keep the dense product (from 2 images on it is faster), chosen by an `If` on the batch size.
    Skipping exact zeros only changes the order of additions: export parity still checks it.
    """
    import onnx
    from onnx import TensorProto, helper

    graph = model.graph
    first = next(n for n in graph.node if n.op_type == "MatMul")
    pixels, weights = first.input
    if pixels != INPUT_NAME or weights not in {i.name for i in graph.initializer}:
        raise ValueError("expected the first MatMul to take the pixels and a weight matrix")
    (product,) = first.output

    def out(name: str):
        return helper.make_tensor_value_info(name, TensorProto.FLOAT, None)

    sparse = helper.make_graph(
        [
            helper.make_node("Reshape", [pixels, "sparse_flat"], ["sparse_row"]),
            helper.make_node("NonZero", ["sparse_row"], ["sparse_nz"]),
            helper.make_node("Reshape", ["sparse_nz", "sparse_flat"], ["sparse_idx"]),
            helper.make_node("Gather", [pixels, "sparse_idx"], ["sparse_x"], axis=1),
            helper.make_node("Gather", [weights, "sparse_idx"], ["sparse_w"], axis=0),
            helper.make_node("MatMul", ["sparse_x", "sparse_w"], ["sparse_product"]),
        ],
        "one_image",
        [],
        [out("sparse_product")],
    )
    dense = helper.make_graph(
        [helper.make_node("MatMul", [pixels, weights], ["dense_product"])],
        "batch",
        [],
        [out("dense_product")],
    )
    nodes = [
        helper.make_node("Shape", [pixels], ["sparse_shape"], start=0, end=1),
        helper.make_node("Equal", ["sparse_shape", "sparse_one"], ["sparse_is_one"]),
        helper.make_node("Squeeze", ["sparse_is_one"], ["sparse_cond"]),
        helper.make_node("If", ["sparse_cond"], [product], then_branch=sparse, else_branch=dense),
    ]
    index = list(graph.node).index(first)
    rebuilt = [*graph.node[:index], *nodes, *graph.node[index + 1 :]]
    del graph.node[:]
    graph.node.extend(rebuilt)
    graph.initializer.extend(
        [
            helper.make_tensor("sparse_flat", TensorProto.INT64, [1], [-1]),
            helper.make_tensor("sparse_one", TensorProto.INT64, [1], [1]),
        ]
    )
    onnx.checker.check_model(model)
    return model


def dense_of(model):
    """The plain graph back from a sparse one (its If replaced by the dense MatMul)."""
    from onnx import helper

    graph = model.graph
    (node,) = [n for n in graph.node if n.op_type == "If"]
    else_branch = next(a.g for a in node.attribute if a.name == "else_branch")
    (matmul,) = else_branch.node
    dense = helper.make_node("MatMul", list(matmul.input), list(node.output))
    helper_names = {"sparse_shape", "sparse_is_one", "sparse_cond"}
    rebuilt = []
    for n in graph.node:
        if n is node:
            rebuilt.append(dense)
        elif not set(n.output) & helper_names:
            rebuilt.append(n)
    del graph.node[:]
    graph.node.extend(rebuilt)
    kept = [i for i in graph.initializer if i.name not in {"sparse_flat", "sparse_one"}]
    del graph.initializer[:]
    graph.initializer.extend(kept)
    onnx.checker.check_model(model)
    return model


def build_variants(model_dir: Path, work: Path) -> dict[str, Path]:
    """One model repository per variant: the served XGBoost version as it is (linked), and an
    MLP version whose one serving artifact is the variant's graph."""
    names = repository.check_repository(model_dir)
    mlp_dir = repository.version_dir(model_dir, "mlp", repository.versions(model_dir / "mlp")[0])
    meta = repository.read_model_json(mlp_dir)
    fp32 = mlp_dir / repository.serving_artifact(meta, "fp32")["path"]
    model = onnx.load(str(fp32))
    if any(n.op_type == "If" for n in model.graph.node):
        dense, sparse = dense_of(onnx.load(str(fp32))), model
    else:
        dense, sparse = model, sparse_single_image(onnx.load(str(fp32)))
    files = {"sparse_fp32": work / "sparse.onnx", "dense_fp32": work / "dense.onnx"}
    onnx.save(sparse, str(files["sparse_fp32"]))
    onnx.save(dense, str(files["dense_fp32"]))
    files["int8"] = work / "int8.onnx"
    quantize_mlp(files["dense_fp32"], files["int8"])
    dirs = {}
    for variant, path in files.items():
        folder = work / variant
        for name in names:
            if name != "mlp":
                version = repository.versions(model_dir / name)[0]
                (folder / name).mkdir(parents=True)
                (folder / name / str(version)).symlink_to(
                    repository.version_dir(model_dir, name, version).resolve()
                )
        version = folder / "mlp" / "1"
        version.mkdir(parents=True)
        (version / "mlp.onnx").symlink_to(path)
        artifact = {
            "path": "mlp.onnx",
            "role": repository.SERVING,
            "format": "onnx",
            "sha256": sha256_file(path),
            "bytes": path.stat().st_size,
            "variant": variant,
        }
        served = {**meta, "version": 1, "artifacts": [artifact]}
        (version / repository.MODEL_FILE).write_text(json.dumps(served))
        dirs[variant] = folder
    return dirs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model-dir", type=Path, default=load_settings().model_dir)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--workers", type=int, default=load_settings().workers)
    parser.add_argument(
        "--data-dir",
        type=Path,
        help="MNIST IDX files; requests rotate over its test images (default: the download)",
    )
    parser.add_argument(
        "--out", type=Path, default=PROJECT_ROOT / "benchmarks/results/mlp_shapes.json"
    )
    args = parser.parse_args()
    config = LoadTestConfig(duration=args.duration, data_dir=args.data_dir)
    bodies, ctype = request_bodies(config)
    runs: dict[str, list[float]] = {v: [] for v in VARIANTS}
    with tempfile.TemporaryDirectory() as tmp, BodyFiles(bodies) as body:
        dirs = build_variants(args.model_dir, Path(tmp))
        for round_ in range(args.repeat):
            for name in VARIANTS:
                env = {"MNIST_SERVE_MODEL_DIR": str(dirs[name])}
                with GunicornServer("mnist_serve.wsgi:app", args.workers, 1, env) as server:
                    url = server.url + config.endpoint
                    run_wrk(url, body, ctype, config, config.warmup)
                    rps = run_wrk(url, body, ctype, config, config.duration)["requests_per_second"]
                runs[name].append(round(rps, 1))
                print(f"round {round_ + 1}/{args.repeat} {name:<12} {rps:9.1f} req/s", flush=True)
    medians = {name: statistics.median(values) for name, values in runs.items()}
    report = {
        "config": {
            "workers": args.workers,
            "connections": config.connections,
            "duration": args.duration,
            "repeat": args.repeat,
            "payload": f"json, {config.images} distinct MNIST test images in turn, to "
            "/verify_vector_image",
            "input": INPUT_NAME,
        },
        "requests_per_second": runs,
        "median": medians,
        "fastest": max(medians, key=medians.get),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    plot(report, args.out.with_suffix(".png"))
    print(json.dumps(report["median"]), "fastest:", report["fastest"])


def plot(report: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    names = list(report["median"])
    bars = ax.bar(names, [report["median"][n] for n in names], color="#8fb3d9")
    ax.bar_label(bars, fmt="%.0f")
    for i, name in enumerate(names):
        values = report["requests_per_second"][name]
        ax.plot([i] * len(values), values, "k.", markersize=4)
    ax.set_ylabel("requests / second (median; dots: each round)")
    cfg = report["config"]
    ax.set_title(
        f"MLP graph shapes under load: {cfg['workers']} workers, {cfg['connections']} "
        f"connections, {cfg['repeat']} interleaved rounds of {cfg['duration']:.0f} s",
        fontsize=9,
        loc="left",
    )
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


if __name__ == "__main__":
    main()
