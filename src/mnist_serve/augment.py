"""Random, seeded distortions of 28x28 training digits: scale, rotation, shift, stroke thickness.

Real handwriting that does not come from MNIST is read worse than MNIST itself (issue 12):
its digits are smaller or larger in their box, slanted, off-centre and drawn with other pens.
Training on digits distorted this way, drawn fresh from a seeded generator, makes both models
sturdier without new data. Pure numpy: every image is resampled by one vectorised bilinear
gather, so a 60,000-image epoch costs about a second.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mnist_serve.data import N_PIXELS

SIDE = 28


@dataclass(frozen=True)
class Augmentation:
    """Ranges of the random distortions; each image draws its own values uniformly."""

    scale: tuple[float, float] = (0.8, 1.1)
    """Size factor around the centre of mass (MNIST digits fill a 20x20 box; 0.8 -> 16 px)."""
    aspect: tuple[float, float] = (0.7, 1.1)
    """Width factor on top of `scale`: narrow, tall digits (a thin 0) are common elsewhere."""
    shear: float = 0.25
    """Horizontal slant, x += shear * y, drawn from [-shear, shear]."""
    rotate_degrees: float = 12.0
    shift_pixels: float = 2.0
    thickness: tuple[float, float] = (-0.6, 0.8)
    """Negative: blend towards a one-step erosion (thinner pen), positive: towards a dilation."""
    coarse_fraction: float = 0.3
    """Share of the distorted images also coarsened: block-averaged to 2 or 3 px cells, blown
    back up and re-inked, as a digit scanned at low resolution (8x8 cells of 4x4 px, like
    UCI's optdigits) looks after `prepare_image`: blobby strokes with smooth edges."""
    keep_fraction: float = 0.2
    """Share of images left untouched, so the plain MNIST digits stay in the mix."""
    scan_fraction: float = 0.0
    """Share of images replaced by their copy scanned like a form (mnist_serve.scans: upright,
    stretched to a fixed box, 8x8 cells of ink counts) when the trainer passes such copies."""
    scan_flag_ones: float = 0.5
    """Share of the scanned 1s given a flag first, as many writers outside the US draw them."""
    scan_width: tuple[int, int] = (18, 28)
    """Width of the scanning box in pixels, out of 32 high (optdigits: mostly 20 to 28)."""
    scan_ink: tuple[float, float] = (250.0, 380.0)
    """Inked pixels wanted in the 32x32 bitmap (strokes grown until reached; optdigits ~315)."""


def _dilate(images: np.ndarray) -> np.ndarray:
    padded = np.pad(images, ((0, 0), (1, 1), (1, 1)))
    views = [padded[:, 1 + dy : 1 + dy + SIDE, 1 + dx : 1 + dx + SIDE] for dy, dx in _CROSS]
    return np.maximum.reduce(views)


def _erode(images: np.ndarray) -> np.ndarray:
    padded = np.pad(images, ((0, 0), (1, 1), (1, 1)))
    views = [padded[:, 1 + dy : 1 + dy + SIDE, 1 + dx : 1 + dx + SIDE] for dy, dx in _CROSS]
    return np.minimum.reduce(views)


_CROSS = ((0, 0), (-1, 0), (1, 0), (0, -1), (0, 1))


def _thickness(images: np.ndarray, amount: np.ndarray) -> np.ndarray:
    """Blend each image towards its dilation (amount > 0) or erosion (amount < 0)."""
    a = amount[:, None, None]
    thicker = images + np.clip(a, 0, None) * (_dilate(images) - images)
    return thicker + np.clip(-a, 0, None) * (_erode(images) - images)


def _coarse(images: np.ndarray, cell: int) -> np.ndarray:
    """Average over `cell` x `cell` blocks, resample back bilinearly, and re-ink the edges."""
    n = len(images)
    side = -(-SIDE // cell) * cell
    padded = np.zeros((n, side, side), dtype=np.float32)
    padded[:, :SIDE, :SIDE] = images
    blocks = padded.reshape(n, side // cell, cell, side // cell, cell).mean(axis=(2, 4))
    # Bilinear up-sampling: sample each block grid at the output pixels' centres.
    centres = (np.arange(SIDE, dtype=np.float32) + 0.5) / cell - 0.5
    i0 = np.clip(np.floor(centres).astype(int), 0, blocks.shape[1] - 1)
    i1 = np.clip(i0 + 1, 0, blocks.shape[1] - 1)
    w = np.clip(centres - i0, 0.0, 1.0)
    rows = blocks[:, i0, :] * (1 - w)[None, :, None] + blocks[:, i1, :] * w[None, :, None]
    up = rows[:, :, i0] * (1 - w)[None, None, :] + rows[:, :, i1] * w[None, None, :]
    return np.clip((up - 0.3) * 2.5, 0.0, 1.0)


def _affine(images: np.ndarray, matrix: np.ndarray, dx, dy) -> np.ndarray:
    """Bilinear resampling of each image through its 2x2 `matrix` (about its centre of mass),
    then shifted by (dx, dy); reads outside the field are zero."""
    n = len(images)
    rows, cols = np.indices((SIDE, SIDE), dtype=np.float32)
    mass = images.sum(axis=(1, 2)) + 1e-6
    cy = (images * rows).sum(axis=(1, 2)) / mass
    cx = (images * cols).sum(axis=(1, 2)) / mass
    # Output pixel (r, c) samples the input at the inverse transform of (r, c).
    a, b, c, d = (matrix[:, i, j] for i in (0, 1) for j in (0, 1))
    det = a * d - b * c
    ia, ib, ic, id_ = (v[:, None, None] for v in (d / det, -b / det, -c / det, a / det))
    ry = rows[None] - (cy + dy)[:, None, None]
    rx = cols[None] - (cx + dx)[:, None, None]
    sy = cy[:, None, None] + ia * ry + ib * rx
    sx = cx[:, None, None] + ic * ry + id_ * rx
    y0, x0 = np.floor(sy).astype(np.int64), np.floor(sx).astype(np.int64)
    wy, wx = (sy - y0).astype(np.float32), (sx - x0).astype(np.float32)
    padded = np.pad(images, ((0, 0), (1, 2), (1, 2)))
    flat = padded.reshape(-1)
    width = SIDE + 3
    base = np.arange(n)[:, None, None] * width * width
    y0 = np.clip(y0 + 1, 0, SIDE + 1)
    x0 = np.clip(x0 + 1, 0, SIDE + 1)
    inside = (sy > -1) & (sy < SIDE) & (sx > -1) & (sx < SIDE)

    def at(y, x):
        return flat[base + y * width + x]

    top = at(y0, x0) * (1 - wx) + at(y0, x0 + 1) * wx
    bottom = at(y0 + 1, x0) * (1 - wx) + at(y0 + 1, x0 + 1) * wx
    return np.where(inside, top * (1 - wy) + bottom * wy, 0.0).astype(np.float32)


def _matrices(rng: np.random.Generator, n: int, params: Augmentation) -> np.ndarray:
    """(n, 2, 2) forward transforms in (row, col) coordinates: rotate . shear . scale."""
    scale = rng.uniform(*params.scale, n)
    width = scale * rng.uniform(*params.aspect, n)
    shear = rng.uniform(-params.shear, params.shear, n)
    angle = np.deg2rad(rng.uniform(-params.rotate_degrees, params.rotate_degrees, n))
    cos, sin = np.cos(angle), np.sin(angle)
    # (row, col) -> scale: (scale*row, width*col) -> shear: col += shear*row -> rotate.
    m00, m01 = scale, np.zeros(n)
    m10, m11 = shear * scale, width
    r00, r01, r10, r11 = cos, -sin, sin, cos
    return np.stack(
        [
            np.stack([r00 * m00 + r01 * m10, r00 * m01 + r01 * m11], -1),
            np.stack([r10 * m00 + r11 * m10, r10 * m01 + r11 * m11], -1),
        ],
        1,
    ).astype(np.float32)


def augment(
    x: np.ndarray,
    rng: np.random.Generator,
    params: Augmentation = Augmentation(),
    scans: np.ndarray | None = None,
) -> np.ndarray:
    """float32 (n, 784) in [0, 1] -> a distorted copy, same shape and range; `x` is untouched.

    `scans`: the same digits scanned (mnist_serve.scans.scanned), of which a `scan_fraction`
    share replaces the distorted ones; the random draws are unchanged when it is not given."""
    n = len(x)
    images = x.reshape(n, SIDE, SIDE).astype(np.float32)
    matrix = _matrices(rng, n, params)
    dx, dy = (rng.uniform(-params.shift_pixels, params.shift_pixels, (2, n))).astype(np.float32)
    thick = rng.uniform(*params.thickness, n).astype(np.float32)
    keep = rng.random(n) < params.keep_fraction
    coarse = rng.random(n) < params.coarse_fraction
    cells = rng.integers(2, 4, n)
    out = np.empty_like(images)
    chunk = 4096  # bounded temporaries (a few MB each)
    for i in range(0, n, chunk):
        s = slice(i, i + chunk)
        moved = _affine(images[s], matrix[s], dx[s], dy[s])
        out[s] = np.clip(_thickness(moved, thick[s]), 0.0, 1.0)
    for cell in (2, 3):
        sel = coarse & (cells == cell)
        if sel.any():
            out[sel] = _coarse(out[sel], cell)
    if scans is not None and params.scan_fraction > 0:
        scan = rng.random(n) < params.scan_fraction
        out[scan] = scans[scan].reshape(-1, SIDE, SIDE)
    out[keep] = images[keep]
    return out.reshape(n, N_PIXELS)
