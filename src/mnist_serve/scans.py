"""MNIST training digits made to look like low-resolution form scans, through the serving path.

Real digits from other sources (issue 12; UCI optdigits in `mnist-serve handwriting`) went
through NIST's form normalisation, not MNIST's: each digit stands upright and is stretched to
fill a fixed box (a "1" becomes as wide as a "0"), strokes are thick, and the result is stored
at low resolution (8x8 cells of 4x4 pixels). Many writers also flag their 1s. `prepare_image`
cannot undo a stretch it cannot know about, so the models are shown such digits instead: each
MNIST digit is deslanted, optionally flagged (1s only), stretched into a 32-pixel-high box,
made bilevel, counted in 4x4 cells, smoothed back to 32x32 as a scan arrives, and then brought
to MNIST form by `mnist_pixels`, the very function behind `POST /predict/image`.

Slow next to `augment` (a few ms per digit, in Python and Pillow), so `scanned` makes one
copy per fit, spread over worker processes; training mixes a share of it into each epoch.
"""

from __future__ import annotations

import os
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context

import numpy as np
from PIL import Image

from mnist_serve.data import N_PIXELS
from mnist_serve.errors import InvalidInput
from mnist_serve.images import mnist_pixels

SCAN_SIDE = 32  # NIST's normalised bitmap, as optdigits describes it
CELL = 4  # optdigits counts ink in 4x4 cells: an 8x8 grid of 0..16
CHUNK = 2000


def deslant(image: np.ndarray, pad: int = 8) -> np.ndarray:
    """Shear a digit so that its main axis is vertical (second moments), on a padded field."""
    field = np.pad(image.astype(np.float32), pad)
    rows, cols = np.indices(field.shape, dtype=np.float32)
    mass = float(field.sum()) + 1e-6
    cy, cx = (rows * field).sum() / mass, (cols * field).sum() / mass
    mu02 = float(((rows - cy) ** 2 * field).sum()) / mass
    mu11 = float(((rows - cy) * (cols - cx) * field).sum()) / mass
    slope = mu11 / max(mu02, 1e-6)
    out = Image.fromarray(field, "F").transform(
        field.shape[::-1],
        Image.Transform.AFFINE,
        (1.0, slope, -slope * cy, 0.0, 1.0, 0.0),
        Image.Resampling.BILINEAR,
    )
    return np.asarray(out)


def add_flag(image: np.ndarray, length: float, degrees: float) -> np.ndarray:
    """Draw a flag from the top of the digit down to the left, as many writers start a 1:
    `length` is a share of the digit's height, `degrees` the angle below horizontal."""
    ink = image > 0.5
    if not ink.any():
        return image
    filled = np.flatnonzero(ink.any(axis=1))
    top, height = int(filled[0]), int(filled[-1] - filled[0] + 1)
    row = image[top]
    c0 = float((row * np.arange(len(row))).sum() / max(float(row.sum()), 1e-6))
    r0 = top + 0.5
    area = int(ink.sum())
    p = np.pad(ink, 1)
    inner = ink & p[:-2, 1:-1] & p[2:, 1:-1] & p[1:-1, :-2] & p[1:-1, 2:]
    width = float(np.clip(2.0 * area / max(area - int(inner.sum()), 1), 1.5, 4.0))
    angle = np.deg2rad(degrees)
    dr, dc = length * height * np.sin(angle), -length * height * np.cos(angle)
    rows, cols = np.indices(image.shape, dtype=np.float32)
    pr, pc = rows - r0, cols - c0
    t = np.clip((pr * dr + pc * dc) / (dr * dr + dc * dc + 1e-6), 0.0, 1.0)
    distance = np.hypot(pr - t * dr, pc - t * dc)
    return np.maximum(image, np.clip(width / 2 + 0.5 - distance, 0.0, 1.0)).astype(np.float32)


def nist_counts(image: np.ndarray, width: int, ink_pixels: float) -> np.ndarray:
    """A digit stretched to SCAN_SIDE high and `width` wide, bilevel, strokes grown until about
    `ink_pixels` are inked, then counted in CELL x CELL cells: (8, 8) values 0..16."""
    mask = image > 0.1
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    crop = image[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1].astype(np.float32)
    # A bar is never stretched more than 3x its own aspect: a 1 stays taller than wide.
    width = min(width, max(8, round(SCAN_SIDE * 3 * crop.shape[1] / crop.shape[0])))
    big = Image.fromarray(crop, "F").resize((width, SCAN_SIDE), Image.Resampling.BILINEAR)
    canvas = np.zeros((SCAN_SIDE, SCAN_SIDE), dtype=np.float32)
    left = (SCAN_SIDE - width) // 2
    canvas[:, left : left + width] = np.asarray(big)
    bits = canvas > 0.5
    for _ in range(3):
        if bits.sum() >= ink_pixels:
            break
        p = np.pad(bits, 1)
        bits = bits | p[:-2, 1:-1] | p[2:, 1:-1] | p[1:-1, :-2] | p[1:-1, 2:]
    n = SCAN_SIDE // CELL
    return bits.reshape(n, CELL, n, CELL).sum(axis=(1, 3)).astype(np.float32)


def render(counts: np.ndarray) -> np.ndarray:
    """8x8 ink counts -> uint8 (28, 28) MNIST-form digit, as a 32x32 scan of them would be
    prepared by `POST /predict/image` (the same rendering as `handwriting.as_png`)."""
    ink = Image.fromarray((counts / (CELL * CELL)).astype(np.float32), "F")
    ink = ink.resize((SCAN_SIDE, SCAN_SIDE), Image.Resampling.BILINEAR)
    grey = np.round(255.0 - np.clip(np.asarray(ink), 0.0, 1.0) * 255.0) / 255.0
    return mnist_pixels(grey.astype(np.float32))[0]


def scan_one(image: np.ndarray, label: int, rng: np.random.Generator, params) -> np.ndarray:
    """One (28, 28) float digit in [0, 1] -> uint8 (28, 28) as if scanned like optdigits."""
    upright = deslant(image)
    if label == 1 and rng.random() < params.scan_flag_ones:
        upright = add_flag(upright, rng.uniform(0.3, 0.55), rng.uniform(30.0, 60.0))
    width = int(rng.integers(params.scan_width[0], params.scan_width[1] + 1))
    counts = nist_counts(upright, width, rng.uniform(*params.scan_ink))
    return render(counts)


def _scan_chunk(args) -> np.ndarray:
    images, labels, seed, params = args
    rng = np.random.default_rng(seed)
    out = np.zeros((len(images), N_PIXELS), dtype=np.uint8)
    for i, (image, label) in enumerate(zip(images, labels, strict=True)):
        try:
            if not (image > 0.1).any():
                raise InvalidInput("no ink")
            out[i] = scan_one(image.reshape(28, 28), int(label), rng, params).reshape(N_PIXELS)
        except InvalidInput:  # no ink, or none left after the threshold: keep the digit
            out[i] = np.round(image * 255.0).astype(np.uint8)
    return out


def scanned(
    x: np.ndarray, y: np.ndarray, rng: np.random.Generator, params, workers: int | None = None
) -> np.ndarray:
    """float32 (n, 784) in [0, 1] and labels -> one scanned copy, float32 (n, 784) in [0, 1].

    Deterministic for a given `rng` whatever the number of worker processes (each chunk has
    its own seed). Workers are spawned, not forked: the trainer may hold TensorFlow's threads."""
    seeds = rng.integers(0, 2**63, -(-len(x) // CHUNK))
    jobs = [
        (x[i : i + CHUNK], y[i : i + CHUNK], int(s), params)
        for i, s in zip(range(0, len(x), CHUNK), seeds, strict=True)
    ]
    workers = min(workers or os.cpu_count() or 1, len(jobs))
    if workers <= 1:
        parts = [_scan_chunk(job) for job in jobs]
    else:
        with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
            parts = list(pool.map(_scan_chunk, jobs))
    return np.concatenate(parts).astype(np.float32) / 255.0
