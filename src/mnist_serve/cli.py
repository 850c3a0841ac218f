"""`mnist-serve` subcommands: thin wrappers around plain functions in the other modules."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from mnist_serve.config import PROJECT_ROOT, load_settings
from mnist_serve.errors import ArtifactError, DataError, ServeError


def _add_model_dir(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--model-dir",
        type=Path,
        help="model repository, <dir>/<name>/<version>/ (default: models/)",
    )


def _add_data_dir(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--data-dir",
        type=Path,
        help="folder with the MNIST IDX files (.gz or raw) or mnist.npz; "
        "without it MNIST is downloaded once and checked by sha256",
    )
    p.add_argument("--mirror", help="base URL of an MNIST mirror (default: a public one)")


def _settings(args: argparse.Namespace):
    overrides = {}
    if getattr(args, "model_dir", None):
        overrides["model_dir"] = args.model_dir
    return load_settings(**overrides)


def cmd_train(args: argparse.Namespace) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's start-up chatter
    from mnist_serve import training
    from mnist_serve.data import load_mnist

    data = load_mnist(args.data_dir, args.mirror)
    config = training.TrainConfig(
        out_dir=args.out_dir,
        holdout=args.holdout,
        refit_full=not args.no_refit,
        seed=args.seed,
        version=args.version,
        models=tuple(args.only or training.TRAINERS),
    )
    if args.epochs is not None:
        config.mlp.epochs = args.epochs
    if args.trees is not None:
        config.xgboost.n_estimators = args.trees
    if args.limit:
        data = _limited(data, args.limit)
    written = training.train(data, config)
    for entry in written["models"]:
        print(
            f"{entry['name']}: test accuracy {entry['metrics']['test_accuracy']:.4f}, "
            f"wrote {args.out_dir / entry['name'] / str(entry['version'])}"
        )
    return 0


def _limited(data, n: int):
    from mnist_serve.data import MnistData

    return MnistData(
        data.x_train[:n], data.y_train[:n], data.x_test, data.y_test, data.source, data.sha256
    )


def cmd_evaluate(args: argparse.Namespace) -> int:
    from mnist_serve.evaluation import evaluate

    settings = _settings(args)
    report = evaluate(settings.model_dir, args.data_dir, args.mirror, tolerance=args.tolerance)
    print(json.dumps(report, indent=2))
    return 0 if report["ok"] else 1


def cmd_serve(args: argparse.Namespace) -> int:
    """Exec Gunicorn with the project's config file; flags become MNIST_SERVE_* variables."""
    for flag in ("bind", "workers", "threads", "model_dir"):
        value = getattr(args, flag, None)
        if value is not None:
            os.environ[f"MNIST_SERVE_{flag.upper()}"] = str(value)
    settings = load_settings()  # fail here, loudly, on a bad setting or an empty repository
    from mnist_serve.repository import check_repository

    check_repository(settings.model_dir)
    argv = [sys.executable, "-m", "gunicorn", "--config", "python:mnist_serve.gunicorn_conf"]
    argv += ["mnist_serve.wsgi:app"]
    os.execv(sys.executable, argv)
    return 0  # not reached


def cmd_bench(args: argparse.Namespace) -> int:
    from mnist_serve.bench import run_inference_bench

    settings = _settings(args)
    result = run_inference_bench(
        settings.model_dir, args.example, trials=args.trials, batch=args.batch, out=args.out
    )
    print(f"wrote {args.out} and {args.out.with_suffix('.png')}")
    return 0 if result else 1


def cmd_robustness(args: argparse.Namespace) -> int:
    from mnist_serve.robustness import run

    settings = _settings(args)
    report = run(settings.model_dir, args.data_dir, args.mirror, limit=args.limit, out=args.out)
    models = list(report["original"])
    print(f"{'':26}" + "".join(f"{m:>12}" for m in models))
    print(f"{'original vectors':26}" + "".join(f"{report['original'][m]:12.2f}" for m in models))
    for name, entry in report["scenarios"].items():
        mark = "" if entry["criterion"] else "  (reported only)"
        row = "".join(f"{entry[m]['accuracy']:12.2f}" for m in models)
        print(f"{name:26}{row}{mark}")
    verdict = "within" if report["ok"] else "NOT within"
    print(
        f"{report['images']} digits: {verdict} {report['tolerance_points']} points of the originals"
    )
    if args.out:
        print(f"wrote {args.out} and {args.out.with_suffix('.png')}")
    return 0 if report["ok"] else 1


def cmd_handwriting(args: argparse.Namespace) -> int:
    from mnist_serve.handwriting import run

    settings = _settings(args)
    report = run(settings.model_dir, settings.precision, out=args.out)
    models = list(report["models"])
    print(f"{'':24}" + "".join(f"{m:>12}" for m in models))
    for split, entry in report["splits"].items():
        row = "".join(f"{entry[m]:12.2f}" for m in models)
        print(f"{split + ' (' + str(entry['digits']) + ')':24}{row}")
    verdict = "reach" if report["ok"] else "do NOT reach"
    print(f"evaluation split: the models {verdict} {report['target_points']}%")
    if args.out:
        print(f"wrote {args.out} and {args.out.with_suffix('.png')}")
    return 0 if report["ok"] else 1


IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".gif", ".bmp"})


def _is_image(path: Path, data: bytes) -> bool:
    from mnist_serve.images import looks_like_image

    return path.suffix.lower() in IMAGE_SUFFIXES or looks_like_image(data)


def _ascii_digit(pixels) -> str:
    """The 28x28 input as text, darkest to lightest ink: what the models saw, in a terminal."""
    shades = " .:-=+*#%@"
    return "\n".join(
        "".join(shades[int(v) * (len(shades) - 1) // 255] * 2 for v in row) for row in pixels
    )


def cmd_predict(args: argparse.Namespace) -> int:
    """Classify a JSON request file or an image file (sniffed), as the server would."""
    import orjson

    from mnist_serve.http.parsing import images_from_document, parse_json
    from mnist_serve.http.responses import seed_answers
    from mnist_serve.runtime import ModelRegistry

    settings = _settings(args)
    data = args.file.read_bytes()
    image = None
    if _is_image(args.file, data):
        from mnist_serve.images import prepare_image

        # Decode (and reject) before loading the models: a bad file fails fast.
        image = prepare_image(data, settings.max_image_pixels)
    else:
        x, batched = images_from_document(parse_json(data), settings.max_batch)
    registry = ModelRegistry.load(settings.model_dir, settings.precision)
    if image is not None:
        from mnist_serve.http.image import image_answer

        out = image_answer(image, registry)
        if args.show:
            print(_ascii_digit(image.pixels), file=sys.stderr)
    else:
        answers = seed_answers(registry.predict_all(x))
        out = answers if batched else answers[0]
    sys.stdout.buffer.write(orjson.dumps(out, option=orjson.OPT_SERIALIZE_NUMPY) + b"\n")
    return 0


def cmd_loadtest(args: argparse.Namespace) -> int:
    from mnist_serve import loadtest

    config = loadtest.LoadTestConfig(
        targets=args.targets.split(","),
        workers=[int(w) for w in args.workers.split(",")],
        threads=args.threads,
        payload=args.payload,
        batch=args.batch,
        endpoint=args.endpoint,
        connections=args.connections,
        duration=args.duration,
        repeat=args.repeat,
        url=args.url,
    )
    unknown = set(config.targets) - set(loadtest.TARGETS)
    try:
        if config.repeat < 1:
            raise loadtest.LoadTestError(f"--repeat must be at least 1, got {config.repeat}")
        if unknown:
            raise loadtest.LoadTestError(
                f"unknown targets {sorted(unknown)}; known: {list(loadtest.TARGETS)}"
            )
        report = loadtest.run_loadtest(config)
    except loadtest.LoadTestError as exc:
        print(f"mnist-serve loadtest: error: {exc}", file=sys.stderr)
        return 2
    loadtest.write_report(report, args.out)
    print(loadtest.table(report))
    print(f"wrote {args.out} and {args.out.with_suffix('.png')}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mnist-serve", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser(
        "train", help="train both models, export ONNX, add a new version of each to models/"
    )
    _add_data_dir(p)
    p.add_argument("--out-dir", type=Path, default=PROJECT_ROOT / "models")
    p.add_argument("--holdout", type=int, default=5000, help="validation images held out")
    p.add_argument(
        "--no-refit", action="store_true", help="ship the models fit without the holdout"
    )
    p.add_argument("--seed", type=int, default=1234)
    p.add_argument(
        "--version",
        type=int,
        help="version directory to write (default: one above each model's highest); "
        "an existing version is never overwritten",
    )
    p.add_argument("--epochs", type=int, help="MLP epochs (default: the tuned value)")
    p.add_argument("--trees", type=int, help="XGBoost boosting rounds (default: the tuned value)")
    p.add_argument("--limit", type=int, help="use only the first N training images (smoke runs)")
    p.add_argument(
        "--only",
        action="append",
        choices=["mlp", "xgboost"],
        help="train just this model (repeatable); the others keep their versions",
    )
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("evaluate", help="recompute the served models' test accuracy")
    _add_model_dir(p)
    _add_data_dir(p)
    p.add_argument(
        "--tolerance",
        type=float,
        default=0.001,
        help="allowed drop below the accuracy in model.json (0.001 = 0.1 points)",
    )
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("serve", help="start Gunicorn with the project's config")
    _add_model_dir(p)
    p.add_argument("--bind", help="host:port (default 0.0.0.0:8887)")
    p.add_argument("--workers", type=int)
    p.add_argument("--threads", type=int)
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("bench", help="in-process inference speed test (the seed's script)")
    _add_model_dir(p)
    p.add_argument(
        "--example", type=Path, default=PROJECT_ROOT / "examples/mnist_image_example.json"
    )
    p.add_argument("--trials", type=int, default=1000)
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--out", type=Path, default=PROJECT_ROOT / "benchmarks/results/inference.json")
    p.set_defaults(func=cmd_bench)

    p = sub.add_parser("loadtest", help="drive Gunicorn with wrk; compare with the baselines")
    p.add_argument("--url", help="load an already running server instead (no baselines)")
    p.add_argument("--endpoint", default="/verify_vector_image")
    p.add_argument(
        "--payload", default="json", choices=["json", "binary", "batch-json", "batch-binary"]
    )
    p.add_argument("--batch", type=int, default=32, help="images per request for batch payloads")
    p.add_argument(
        "--targets", default="product,floor,floor+models,seed-style", help="comma-separated"
    )
    p.add_argument("--workers", default=str(os.cpu_count() or 1), help="sweep, e.g. 1,2,4,8")
    p.add_argument("--threads", type=int, default=1, help="Gunicorn threads per worker")
    p.add_argument("--connections", type=int, default=16)
    p.add_argument("--duration", type=float, default=10.0, help="seconds per measured run")
    p.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="measure each target this many times, interleaved; report the median run",
    )
    p.add_argument("--out", type=Path, default=PROJECT_ROOT / "benchmarks/results/loadtest.json")
    p.set_defaults(func=cmd_loadtest)

    p = sub.add_parser("predict", help="classify a JSON request file or an image file")
    _add_model_dir(p)
    p.add_argument(
        "file",
        type=Path,
        help='a JSON file like {"image_vector": [...]}, or a PNG, JPEG, GIF or BMP image',
    )
    p.add_argument(
        "--show",
        action="store_true",
        help="for an image, also draw the 28x28 input the models saw (on stderr)",
    )
    p.set_defaults(func=cmd_predict)

    p = sub.add_parser(
        "robustness",
        help="accuracy on MNIST test digits sent as image files vs. as vectors (JSON + plot)",
    )
    _add_model_dir(p)
    _add_data_dir(p)
    p.add_argument("--limit", type=int, help="only the first N test digits (default: all)")
    p.add_argument(
        "--out", type=Path, default=PROJECT_ROOT / "benchmarks/results/image_robustness.json"
    )
    p.set_defaults(func=cmd_robustness)

    p = sub.add_parser(
        "handwriting",
        help="accuracy on real handwritten digits not from MNIST, as image files (JSON + plot)",
    )
    _add_model_dir(p)
    p.add_argument("--out", type=Path, default=PROJECT_ROOT / "benchmarks/results/handwriting.json")
    p.set_defaults(func=cmd_handwriting)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (ServeError, ArtifactError, DataError, OSError) as exc:
        message = exc.message if isinstance(exc, ServeError) else str(exc)
        print(f"mnist-serve {args.command}: error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
