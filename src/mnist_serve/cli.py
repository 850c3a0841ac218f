"""`mnist-serve` subcommands: thin wrappers around plain functions in the other modules."""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import replace
from pathlib import Path

from mnist_serve.config import PROJECT_ROOT, WORKER_CLASSES, default_workers, load_settings
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


def _add_out(p: argparse.ArgumentParser, name: str) -> None:
    p.add_argument(
        "--out",
        type=Path,
        default=PROJECT_ROOT / "benchmarks/results" / name,
        help="results JSON (a PNG plot is written beside it)",
    )


def _add_worker_class(p: argparse.ArgumentParser, default_help: str) -> None:
    p.add_argument(
        "--worker-class", choices=WORKER_CLASSES, help=f"Gunicorn worker class ({default_help})"
    )


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
    # Where `serve` will look (MNIST_SERVE_MODEL_DIR, else the checkout's or ./models).
    args.out_dir = args.out_dir or load_settings().model_dir
    config = training.TrainConfig(
        out_dir=args.out_dir,
        holdout=args.holdout,
        refit_full=args.refit,
        seed=args.seed,
        version=args.version,
        models=tuple(args.only or training.TRAINERS),
    )
    if args.epochs is not None:
        config.mlp.epochs = args.epochs
    if args.trees is not None:
        config.xgboost.n_estimators = args.trees
    if args.scan_fraction is not None:
        for params in (config.mlp, config.xgboost):
            params.augmentation = replace(params.augmentation, scan_fraction=args.scan_fraction)
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
    for flag in ("bind", "workers", "threads", "model_dir", "worker_class"):
        value = getattr(args, flag, None)
        if value is not None:
            os.environ[f"MNIST_SERVE_{flag.upper()}"] = str(value)
    from mnist_serve.startup import settings_or_exit

    settings = settings_or_exit()  # one line naming the variable on a bad setting
    from mnist_serve.repository import check_servable

    check_servable(settings.model_dir)
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
        worker_class=args.worker_class or "auto",
        data_dir=args.data_dir,
        images=args.images,
    )
    unknown = set(config.targets) - set(loadtest.TARGETS)
    try:
        if config.repeat < 1:
            raise loadtest.LoadTestError(f"--repeat must be at least 1, got {config.repeat}")
        if config.images < 1:
            raise loadtest.LoadTestError(f"--images must be at least 1, got {config.images}")
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


def cmd_faults(args: argparse.Namespace) -> int:
    from mnist_serve import faults
    from mnist_serve.loadtest import LoadTestError

    scenarios = args.scenarios.split(",")
    unknown = sorted(set(scenarios) - set(faults.SCENARIOS))
    if unknown:
        print(
            f"mnist-serve faults: error: unknown scenarios {unknown}; known: "
            f"{','.join(faults.SCENARIOS)}",
            file=sys.stderr,
        )
        return 2
    config = faults.FaultConfig(
        workers=args.workers,
        connections=args.connections,
        duration=args.duration,
        soak=args.soak,
        slow_clients=args.slow_clients,
        slow_seconds=args.slow_seconds,
        normal_requests=args.normal_requests,
        env={"MNIST_SERVE_WORKER_CLASS": args.worker_class} if args.worker_class else None,
    )
    try:
        report = faults.run_faults(config, scenarios)
    except LoadTestError as exc:
        print(f"mnist-serve faults: error: {exc}", file=sys.stderr)
        return 2
    faults.write_report(report, args.out)
    print(json.dumps(report["verdicts"], indent=2))
    print(f"wrote {args.out} and {args.out.with_suffix('.png')}")
    return 0 if all(report["verdicts"].values()) else 1


def cmd_healthcheck(args: argparse.Namespace) -> int:
    """0 when /health/ready answers 200, else 1 and one line on stderr. Never 2: Docker's
    HEALTHCHECK reserves that status, so every failure here, bad settings included, is 1."""
    from mnist_serve.config import SettingsError
    from mnist_serve.healthcheck import HealthcheckError, check_ready

    if not args.timeout > 0:
        print(
            f"mnist-serve healthcheck: error: --timeout must be above 0, got {args.timeout}",
            file=sys.stderr,
        )
        return 1
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"mnist-serve healthcheck: error: {exc}", file=sys.stderr)
        return 1
    try:
        check_ready(settings, args.timeout)
    except HealthcheckError as exc:
        print(f"mnist-serve healthcheck: not ready: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:  # a check must answer 0 or 1, whatever happened
        print(f"mnist-serve healthcheck: error: {type(exc).__name__}: {exc}", file=sys.stderr)
        if settings.log_level == "debug":
            import traceback

            traceback.print_exc()
        return 1
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mnist-serve", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser(
        "train", help="train both models, export ONNX, add a new version of each to models/"
    )
    _add_data_dir(p)
    p.add_argument(
        "--out-dir", type=Path, help="where to write (default: the served model dir, models/)"
    )
    p.add_argument("--holdout", type=int, default=5000, help="validation images held out")
    p.add_argument(
        "--refit",
        action="store_true",
        help="after validation, refit on all training images (the shipped models were not)",
    )
    # The default since the shipped recipes were fit without refitting; still accepted.
    p.add_argument("--no-refit", action="store_false", dest="refit", help=argparse.SUPPRESS)
    p.add_argument("--seed", type=int, default=1234, help="random seed for both trainers")
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
        "--scan-fraction",
        type=float,
        help="share of training digits shown as form scans, both models "
        "(default: the tuned value of each; see mnist_serve.scans)",
    )
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
    p.add_argument("--bind", help="host:port or unix:PATH (default 0.0.0.0:8887)")
    p.add_argument("--workers", type=int, help="Gunicorn worker processes (default: one per core)")
    p.add_argument(
        "--threads", type=int, help="threads per worker; >1 uses the gthread worker (default 1)"
    )
    _add_worker_class(p, "default auto: gevent, or gthread with --threads > 1")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("bench", help="in-process inference speed test (the seed's script)")
    _add_model_dir(p)
    p.add_argument(
        "--example",
        type=Path,
        default=PROJECT_ROOT / "examples/mnist_image_example.json",
        help="JSON request file whose image is timed",
    )
    p.add_argument("--trials", type=int, default=1000, help="timed calls per measurement")
    p.add_argument("--batch", type=int, default=256, help="images per call in the batch timing")
    _add_out(p, "inference.json")
    p.set_defaults(func=cmd_bench)

    p = sub.add_parser("loadtest", help="drive Gunicorn with wrk; compare with the baselines")
    p.add_argument("--url", help="load an already running server instead (no baselines)")
    p.add_argument("--endpoint", default="/verify_vector_image", help="path that is loaded")
    p.add_argument(
        "--payload",
        default="json",
        choices=["json", "binary", "batch-json", "batch-binary"],
        help="request body kind (default json, the seed's)",
    )
    p.add_argument("--batch", type=int, default=32, help="images per request for batch payloads")
    p.add_argument(
        "--targets", default="product,floor,floor+models,seed-style", help="comma-separated"
    )
    p.add_argument(
        "--workers",
        default=str(default_workers()),
        help="Gunicorn workers, comma-separated for a sweep, e.g. 1,2,4,8 (default: the server's)",
    )
    p.add_argument("--threads", type=int, default=1, help="Gunicorn threads per worker")
    _add_worker_class(p, "default auto: gevent, or gthread with --threads > 1")
    p.add_argument(
        "--connections", type=int, default=16, help="concurrent wrk connections (default 16)"
    )
    p.add_argument("--duration", type=float, default=10.0, help="seconds per measured run")
    p.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="measure each target this many times, interleaved; report the median run",
    )
    _add_out(p, "loadtest.json")
    p.add_argument(
        "--data-dir",
        type=Path,
        help="MNIST folder the request bodies are made from (default: the verified download)",
    )
    p.add_argument("--images", type=int, default=1000, help="distinct request bodies to rotate")
    p.set_defaults(func=cmd_loadtest)

    p = sub.add_parser(
        "faults",
        help="kill, reload, stop, soak and starve a real server on loopback (JSON + plot)",
    )
    p.add_argument(
        "--scenarios",
        default="sigkill,sighup,sigterm,soak,slow_clients,kill_all",
        help="comma-separated subset of: sigkill,sighup,sigterm,soak,slow_clients,kill_all",
    )
    p.add_argument("--workers", type=int, default=2, help="Gunicorn workers (default 2)")
    _add_worker_class(p, "default: the server's default")
    p.add_argument("--connections", type=int, default=16, help="wrk connections (default 16)")
    p.add_argument(
        "--duration",
        type=float,
        default=20.0,
        help="seconds of load around each signal (default 20)",
    )
    p.add_argument("--soak", type=float, default=60.0, help="soak seconds (default 60)")
    p.add_argument(
        "--slow-clients", type=int, default=200, help="slow connections opened (default 200)"
    )
    p.add_argument(
        "--slow-seconds",
        type=float,
        default=30.0,
        help="most seconds the slow clients trickle (default 30)",
    )
    p.add_argument(
        "--normal-requests",
        type=int,
        default=200,
        help="requests the normal client sends beside the slow ones (default 200)",
    )
    _add_out(p, "faults.json")
    p.set_defaults(func=cmd_faults)

    p = sub.add_parser(
        "healthcheck",
        help="exit 0 when the server of these MNIST_SERVE_* settings is ready, else 1 "
        "(HTTPS when MNIST_SERVE_CERTFILE is set; for Docker's HEALTHCHECK)",
        description="Ask /health/ready of the server these MNIST_SERVE_* settings describe "
        "(bind, certfile). Exit 0 when it answers 200; otherwise 1 and one line on stderr.",
    )
    p.add_argument(
        "--timeout",
        type=float,
        default=2.0,
        help="seconds to wait for the answer; keep it below the HEALTHCHECK's --timeout "
        "(default 2)",
    )
    p.set_defaults(func=cmd_healthcheck)

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
    _add_out(p, "image_robustness.json")
    p.set_defaults(func=cmd_robustness)

    p = sub.add_parser(
        "handwriting",
        help="accuracy on real handwritten digits not from MNIST, as image files (JSON + plot)",
    )
    _add_model_dir(p)
    _add_out(p, "handwriting.json")
    p.set_defaults(func=cmd_handwriting)
    return parser


def _command(argv: list[str] | None) -> str | None:
    """The subcommand named on the command line, before argparse has understood it."""
    words = sys.argv[1:] if argv is None else argv
    return next((w for w in words if not w.startswith("-")), None)


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:
        # argparse exits 2 on a usage error, a status Docker's HEALTHCHECK reserves: a mistyped
        # check line (`--timeout 2s`) must read as "unhealthy" (1), like every other failure.
        if exc.code == 2 and _command(argv) == "healthcheck":
            raise SystemExit(1) from None
        raise
    try:
        return args.func(args)
    except (ServeError, ArtifactError, DataError, OSError) as exc:
        message = exc.message if isinstance(exc, ServeError) else str(exc)
        print(f"mnist-serve {args.command}: error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
