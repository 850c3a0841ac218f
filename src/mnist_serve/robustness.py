"""How well the models read digits that arrive as image files rather than MNIST vectors.

MNIST test digits are rendered as black-on-white image files at other sizes and positions,
sent through `prepare_image` (the endpoint's preprocessing), and each model's accuracy on them
is compared with its accuracy on the original vectors. The test suite runs this on a few hundred
digits; `mnist-serve robustness` runs it on the whole test set and writes JSON + a plot.
"""

from __future__ import annotations

import io
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageFilter

from mnist_serve.data import N_PIXELS, scale_pixels
from mnist_serve.images import prepare_image
from mnist_serve.runtime import ModelRegistry

# The largest drop (in accuracy points) allowed on rendered images: the criterion.
TOLERANCE_POINTS = 1.5
# Generous: the largest rendering is 1200x900.
MAX_PIXELS = 4096 * 4096


@dataclass(frozen=True)
class Scenario:
    """One way of turning a 28x28 MNIST digit into an image file a user might send."""

    name: str
    description: str
    render: Callable[[np.ndarray, np.random.Generator], bytes]
    criterion: bool = True
    """Counts toward the 1.5-point check (size and position); False: reported only."""


def _on_canvas(
    digit: np.ndarray,
    size: int,
    canvas: tuple[int, int],
    rng: np.random.Generator,
) -> Image.Image:
    """The MNIST digit, black on white, scaled to `size` px, at a random place on a white canvas."""
    ink = Image.fromarray(255 - digit, "L")
    if size != digit.shape[0]:
        ink = ink.resize((size, size), Image.Resampling.BICUBIC)
    page = Image.new("L", canvas, 255)
    x = int(rng.integers(0, canvas[0] - size + 1))
    y = int(rng.integers(0, canvas[1] - size + 1))
    page.paste(ink, (x, y))
    return page


def _encode(image: Image.Image, fmt: str = "PNG", **options: Any) -> bytes:
    out = io.BytesIO()
    image.save(out, format=fmt, **options)
    return out.getvalue()


def _png(size: int, canvas: tuple[int, int]):
    return lambda digit, rng: _encode(_on_canvas(digit, size, canvas, rng))


def _jpeg(digit: np.ndarray, rng: np.random.Generator) -> bytes:
    return _encode(_on_canvas(digit, 84, (200, 160), rng).convert("RGB"), "JPEG", quality=60)


def _transparent(digit: np.ndarray, rng: np.random.Generator) -> bytes:
    """Black ink on a fully transparent background (what a drawing app exports)."""
    page = _on_canvas(digit, 112, (256, 256), rng)
    alpha = Image.eval(page, lambda v: 255 - v)
    rgba = Image.merge("RGBA", (Image.new("L", page.size, 0),) * 3 + (alpha,))
    return _encode(rgba)


def _thick(digit: np.ndarray, rng: np.random.Generator) -> bytes:
    """A felt-tip pen: strokes about 60% wider than MNIST's."""
    return _encode(_on_canvas(digit, 140, (300, 300), rng).filter(ImageFilter.MinFilter(9)))


def _noisy(digit: np.ndarray, rng: np.random.Generator) -> bytes:
    """A grey, noisy 'scan': paper at 200 +- 12, ink at 40."""
    page = np.asarray(_on_canvas(digit, 84, (200, 160), rng), dtype=np.float32)
    page = 40 + page * (160 / 255) + rng.normal(0, 12, page.shape)
    return _encode(Image.fromarray(np.clip(page, 0, 255).astype(np.uint8), "L"))


SCENARIOS: tuple[Scenario, ...] = (
    Scenario("png_28px", "28x28 PNG, the digit as it is, black on white", _png(28, (28, 28))),
    Scenario("png_56px_offcentre", "56 px digit, random place on 160x120", _png(56, (160, 120))),
    Scenario("png_140px_margin", "140 px digit, random place on 600x400", _png(140, (600, 400))),
    Scenario("png_420px_large", "420 px digit, random place on 1200x900", _png(420, (1200, 900))),
    Scenario("png_21px_small", "21 px digit, random place on 64x64", _png(21, (64, 64))),
    Scenario("jpeg_q60", "84 px digit on 200x160, JPEG quality 60", _jpeg, criterion=False),
    Scenario("png_rgba_transparent", "112 px digit, RGBA, transparent", _transparent, False),
    Scenario("png_noisy_grey", "84 px digit, grey paper, noise sd 12", _noisy, criterion=False),
    Scenario("png_thick_pen", "140 px digit, strokes 8 px wider", _thick, criterion=False),
)


def accuracy_points(proba: np.ndarray, labels: np.ndarray) -> float:
    return round(float((proba.argmax(axis=1) == labels).mean() * 100.0), 2)


def measure(
    registry: ModelRegistry,
    images: np.ndarray,
    labels: np.ndarray,
    scenarios: tuple[Scenario, ...] = SCENARIOS,
    seed: int = 0,
) -> dict[str, Any]:
    """Accuracy (points) per model on the original vectors and on each scenario's images."""
    original = registry.predict_all(scale_pixels(images.reshape(-1, N_PIXELS)))
    report: dict[str, Any] = {
        "images": len(images),
        "tolerance_points": TOLERANCE_POINTS,
        "original": {name: accuracy_points(p, labels) for name, p in original.items()},
        "scenarios": {},
    }
    ok = True
    for k, scenario in enumerate(scenarios):
        rng = np.random.default_rng([seed, k])
        seen = np.stack(
            [
                prepare_image(scenario.render(digit, rng), MAX_PIXELS).pixels.reshape(N_PIXELS)
                for digit in images
            ]
        )
        proba = registry.predict_all(scale_pixels(seen))
        entry: dict[str, Any] = {
            "description": scenario.description,
            "criterion": scenario.criterion,
        }
        for name, p in proba.items():
            points = accuracy_points(p, labels)
            drop = report["original"][name] - points
            passed = drop <= TOLERANCE_POINTS
            entry[name] = {"accuracy": points, "drop_points": round(drop, 2), "ok": passed}
            ok &= passed or not scenario.criterion
        report["scenarios"][scenario.name] = entry
    report["ok"] = ok
    return report


def run(
    model_dir: Path,
    data_dir: Path | None,
    mirror: str | None = None,
    limit: int | None = None,
    out: Path | None = None,
) -> dict[str, Any]:
    """Measure on the first `limit` MNIST test digits (all by default); write JSON + plot to `out`."""
    from importlib import metadata

    from mnist_serve.data import load_mnist

    data = load_mnist(data_dir, mirror)
    images, labels = data.x_test[:limit], data.y_test[:limit]
    registry = ModelRegistry.load(model_dir)
    started = time.perf_counter()
    report = measure(registry, images, labels)
    report["seconds"] = round(time.perf_counter() - started, 1)
    report["models"] = {
        m.name: {"version": m.version, "sha256": m.metadata["artifact"]["sha256"]}
        for m in registry.models
    }
    report["pillow"] = metadata.version("pillow")
    if out is not None:
        write_report(report, out)
    return report


def write_report(report: dict[str, Any], out: Path) -> Path:
    """Write the JSON report and a bar chart beside it (same name, .png); returns the plot's path."""
    models = list(report["original"])
    names = ["original vectors"] + [
        name if entry["criterion"] else f"{name}*" for name, entry in report["scenarios"].items()
    ]
    values = {
        model: [report["original"][model]]
        + [s[model]["accuracy"] for s in report["scenarios"].values()]
        for model in models
    }
    title = (
        f"{report['images']} MNIST test digits sent as image files through prepare_image\n"
        f"dotted: original - {report['tolerance_points']} points; *: reported only"
    )
    lines = {m: report["original"][m] - report["tolerance_points"] for m in models}
    return accuracy_bars(report, out, names, values, title, lines, figsize=(11, 5), margin=3)


def accuracy_bars(
    report: dict[str, Any],
    out: Path,
    names: list[str],
    values: dict[str, list[float]],
    title: str,
    lines: dict[str, float],
    figsize: tuple[float, float],
    margin: float,
) -> Path:
    """The JSON report at `out` and, beside it (.png), accuracy bars: one group per name, one
    bar per model, a dotted line per model at `lines[model]` (a model's key, or "" for all)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    fig, ax = plt.subplots(figsize=figsize)
    width = 0.8 / len(values)
    for m, (model, series) in enumerate(values.items()):
        xs = np.arange(len(names)) + (m - (len(values) - 1) / 2) * width
        bars = ax.bar(xs, series, width, label=model)
        ax.bar_label(bars, fmt="%.1f", fontsize=7, padding=2)
        if model in lines:
            colour = bars.patches[0].get_facecolor()
            ax.axhline(lines[model], color=colour, linestyle=":", linewidth=1)
    if "" in lines:
        ax.axhline(lines[""], color="grey", linestyle=":", linewidth=1)
    low = min(min(v) for v in [*values.values(), list(lines.values())])
    ax.set_ylim(max(0.0, low - margin), 100.5)
    ax.set_xticks(
        np.arange(len(names)),
        names,
        rotation=25 if len(names) > 3 else 0,
        ha="right" if len(names) > 3 else "center",
        fontsize=8,
    )
    ax.set_ylabel("accuracy (%)")
    ax.set_title(title, loc="left", fontsize=10)
    ax.legend(loc="lower left", ncol=len(values), fontsize=8)
    fig.tight_layout()
    plot = out.with_suffix(".png")
    fig.savefig(plot, dpi=110)
    plt.close(fig)
    return plot
