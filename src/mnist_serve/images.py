"""Image files -> the 28x28 grey levels the models expect, made the way MNIST itself was made.

MNIST (LeCun et al.) took NIST's bilevel digits, scaled each to fit a 20x20 box keeping its
aspect ratio (the anti-aliasing of that scaling gives the grey levels), and placed it in a
28x28 field so that its centre of mass sits at the centre. `prepare_image` does the same to
any photo, scan, icon or drawing, after turning it into light ink on a dark background. It is
the one preprocessing function behind `POST /predict/image`, `mnist-serve predict` and the page.
"""

from __future__ import annotations

import contextlib
import io
import math
import re
import struct
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from mnist_serve.data import IMAGE_SHAPE, N_PIXELS, scale_pixels
from mnist_serve.errors import InvalidInput, PayloadTooLarge

ACCEPTED_FORMATS = ("PNG", "JPEG", "GIF", "BMP")
# Longest side we work at (at least): a 4000 px photo's digit stays well above 20 px.
WORK_SIZE = 1024
# The bilevel digit is normalised at about this size before the anti-aliased scaling to 20x20
# (NIST's digits were about 128 px when MNIST was made; 160 reproduced MNIST test digits best).
LEVEL_SIZE = 160
# Grey levels below this (0..1) are not part of the digit's bounding box.
FRINGE = 0.05
BOX = 20
# MNIST's centre of mass, in pixel-index coordinates of the 28x28 field (measured: 14.0, 14.0).
CENTRE = 14.0
# An image whose ink differs from its background by less than this (0..1) has no digit.
MIN_CONTRAST = 0.1
# Ink threshold, relative to the darkest ink: NIST's digits were bilevel.
INK_LEVEL = 0.5
# Stroke width wanted at the 20x20 scale. MNIST's strokes are 2.1 to 4.4 px wide (5th to 95th
# percentile, median 2.9, estimated as 2 x area / boundary of the thresholded digit). Thinner
# drawings are dilated and thicker ones eroded to about the median: thick felt-tip digits cost
# both models 3 points of accuracy before this, 0.5 to 1.5 after (see benchmarks/).
MIN_STROKE, TARGET_STROKE, MAX_STROKE = 2.0, 3.0, 4.0

_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, IndexError, struct.error)


@dataclass(frozen=True)
class PreparedImage:
    """A decoded image brought to MNIST form, and what was done to get there."""

    pixels: np.ndarray
    """uint8 (28, 28) grey levels, light ink on black: exactly what the models see (after /255)."""
    format: str
    width: int
    height: int
    inverted: bool
    """True when the image was dark ink on a light background (the usual photo or scan)."""

    def vector(self) -> np.ndarray:
        """float32 (1, 784) in [0, 1], the models' input."""
        return scale_pixels(self.pixels.reshape(1, N_PIXELS))


def prepare_image(data: bytes, max_pixels: int) -> PreparedImage:
    """PNG/JPEG/GIF/BMP bytes -> MNIST-style 28x28; `InvalidInput`/`PayloadTooLarge` if unusable."""
    image, (width, height) = decode_image(data, max_pixels)
    pixels, inverted = mnist_pixels(grey_levels(image))
    return PreparedImage(pixels, image.format or "", width, height, inverted)


# --- decoding --------------------------------------------------------------------------------


def looks_like_image(data: bytes) -> bool:
    """True when the bytes start like one of the accepted formats (magic numbers)."""
    return data.startswith((b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF87a", b"GIF89a", b"BM"))


def decode_image(data: bytes, max_pixels: int) -> tuple[Image.Image, tuple[int, int]]:
    """Decode one still image, checking its declared size before any pixel is decompressed.

    Returns the image (upright, possibly decoded at reduced scale) and its full upright size.
    """
    if not data:
        raise InvalidInput("the image is empty (0 bytes); send a PNG, JPEG, GIF or BMP file")
    try:
        image = Image.open(io.BytesIO(data), formats=ACCEPTED_FORMATS)
    except UnidentifiedImageError:
        if looks_like_image(data):
            raise InvalidInput(
                "the image header is truncated or corrupt", bytes=len(data)
            ) from None
        raise InvalidInput(
            "not a PNG, JPEG, GIF or BMP image: the data matches none of these formats",
            bytes=len(data),
        ) from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        # Pillow's own guard (about 89 million pixels) fired before ours could: same answer.
        declared = re.search(r"\((\d+) pixels\)", str(exc))
        size = f"{declared[1]} pixels" if declared else "more pixels than Pillow allows"
        raise PayloadTooLarge(
            f"the image declares {size}; the limit is {max_pixels}", max_pixels=max_pixels
        ) from None
    except _DECODE_ERRORS as exc:
        raise InvalidInput(f"the image header is corrupt: {exc}") from None
    width, height = image.size
    fmt = image.format
    if width * height > max_pixels:
        raise PayloadTooLarge(
            f"the image is {width}x{height} = {width * height} pixels; the limit is {max_pixels}",
            width=width,
            height=height,
            max_pixels=max_pixels,
        )
    if width == 0 or height == 0:
        raise InvalidInput(f"the image is {width}x{height}: it has no pixels")
    try:
        animated = getattr(image, "is_animated", False)
    except _DECODE_ERRORS:
        animated = False  # a broken second frame: the load below reports the first one
    if animated:
        raise InvalidInput(
            f"animated {fmt} images are not supported: send a single frame", format=fmt
        )
    if fmt == "JPEG" and max(width, height) >= 2 * WORK_SIZE:
        # Decode at 1/2, 1/4 or 1/8 scale straight from the DCT: faster, smaller, anti-aliased.
        factor = max(width, height) / WORK_SIZE
        image.draft("L", (math.ceil(width / factor), math.ceil(height / factor)))
    try:
        image.load()
    except _DECODE_ERRORS as exc:
        raise InvalidInput(f"the {fmt} image data is truncated or corrupt: {exc}") from None
    stored = image.size
    # Unreadable EXIF: keep the pixels as stored.
    with contextlib.suppress(*_DECODE_ERRORS, KeyError, TypeError):
        image = ImageOps.exif_transpose(image)
    if image.size != stored:  # turned a quarter: the upright size is the other way round
        width, height = height, width
    image.format = fmt
    return image, (width, height)


def grey_levels(image: Image.Image) -> np.ndarray:
    """float32 (h, w) grey levels in [0, 1] (1 = white), transparency composited on white.

    A large image is box-averaged down to about WORK_SIZE while still 8-bit, so memory stays
    near the decoded image's own size.
    """
    mode = image.mode
    if mode.startswith("I;16") or mode == "I":
        # 16-bit greyscale PNG: full range is 0..65535.
        work, scale = Image.fromarray(np.asarray(image, dtype=np.float32), "F"), 65535.0
    elif mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in image.info:
        work, scale = image.convert("RGBA").convert("LA"), 255.0
    else:
        work, scale = image.convert("L"), 255.0
    if max(work.size) > WORK_SIZE:
        work = work.reduce(math.ceil(max(work.size) / WORK_SIZE))
    pixels = np.asarray(work, dtype=np.float32) / scale
    if pixels.ndim == 3:
        luminance, alpha = pixels[..., 0], pixels[..., 1]
        pixels = luminance * alpha + (1.0 - alpha)
    return np.clip(pixels, 0.0, 1.0)


# --- MNIST's normalisation -----------------------------------------------------------------


def _border(a: np.ndarray) -> np.ndarray:
    return np.concatenate([a[0], a[-1], a[1:-1, 0], a[1:-1, -1]])


def _shifted_views(a: np.ndarray, cross: bool) -> list[np.ndarray]:
    """`a` moved by one pixel in each of 4 (cross) or 8 directions, zeros shifted in."""
    padded = np.pad(a, 1)
    h, w = a.shape
    steps = [(-1, 0), (1, 0), (0, -1), (0, 1)]
    if not cross:
        steps += [(-1, -1), (-1, 1), (1, -1), (1, 1)]
    return [padded[1 + dy : 1 + dy + h, 1 + dx : 1 + dx + w] for dy, dx in steps]


def _dilate(a: np.ndarray, steps: int) -> np.ndarray:
    """Grey-level (or binary) dilation; alternating cross and square steps grow an octagon,
    closer to a round pen than a square."""
    for i in range(steps):
        a = np.maximum(a, np.maximum.reduce(_shifted_views(a, cross=i % 2 == 0)))
    return a


def _erode(a: np.ndarray, steps: int) -> np.ndarray:
    for i in range(steps):
        a = np.minimum(a, np.minimum.reduce(_shifted_views(a, cross=i % 2 == 0)))
    return a


def stroke_width(mask: np.ndarray) -> float:
    """Mean stroke width in pixels, as 2 x area / boundary (1- and 2-pixel strokes read as 2)."""
    area = int(mask.sum())
    inner = mask & np.logical_and.reduce(_shifted_views(mask, cross=True))
    boundary = area - int(inner.sum())
    return 2.0 * area / max(boundary, 1)


def _bbox(mask: np.ndarray) -> tuple[slice, slice]:
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    return slice(int(rows[0]), int(rows[-1]) + 1), slice(int(cols[0]), int(cols[-1]) + 1)


def _ink(grey: np.ndarray) -> tuple[np.ndarray, bool]:
    """Light-on-dark ink in [0, 1] with the background at 0, and whether we inverted."""
    inverted = bool(np.median(_border(grey)) > 0.5)
    ink = 1.0 - grey if inverted else grey
    background = float(np.median(_border(ink)))
    ink = np.clip(ink - background, 0.0, None)
    contrast = float(ink.max())
    if contrast < MIN_CONTRAST:
        raise InvalidInput(
            "no digit found: the image is blank (a single colour, or nearly)",
            contrast=round(contrast, 3),
        )
    return np.minimum(ink / contrast, 1.0), inverted


def _resize(a: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Anti-aliased resize of a float image to (width, height)."""
    image = Image.fromarray(a.astype(np.float32), "F")
    return np.asarray(image.resize(size, Image.Resampling.BICUBIC))


def _max_pool(a: np.ndarray, f: int) -> np.ndarray:
    h, w = -(-a.shape[0] // f) * f, -(-a.shape[1] // f) * f
    padded = np.zeros((h, w), dtype=a.dtype)
    padded[: a.shape[0], : a.shape[1]] = a
    return padded.reshape(h // f, f, w // f, f).max(axis=(1, 3))


def _digit(ink: np.ndarray) -> np.ndarray:
    """The digit as MNIST's source would have it: bilevel at about LEVEL_SIZE px, cropped to its
    ink, specks removed, strokes brought to MNIST's width. A digit already at MNIST's size
    (20 px) keeps its grey levels untouched."""
    mask = ink > INK_LEVEL
    # A pixel with no inked neighbour is a speck of noise, not a stroke.
    mask &= np.logical_or.reduce(_shifted_views(mask, cross=False))
    if not mask.any():
        raise InvalidInput("no digit found: the image holds only isolated specks")
    near = _dilate(mask, 2)  # the strokes and their anti-aliased edges
    rows, cols = _bbox(near)
    mask, ink = mask[rows, cols], ink[rows, cols]
    # Grey levels next to the strokes only: background noise and specks are gone.
    soft = np.where(near[rows, cols], ink, 0.0).astype(np.float32)
    rows, cols = _bbox(soft > 0)
    if max(rows.stop - rows.start, cols.stop - cols.start) == BOX:
        return soft[rows, cols]  # already MNIST's size: nothing to scale
    side = max(mask.shape)
    if side < LEVEL_SIZE:
        # Small: upsample the grey levels smoothly, then threshold, so that the bilevel
        # digit's edges fall between the original pixels instead of on them.
        k = math.ceil(LEVEL_SIZE / side)
        size = (soft.shape[1] * k, soft.shape[0] * k)
        big = np.asarray(Image.fromarray(soft, "F").resize(size, Image.Resampling.BICUBIC))
        digit = (big > INK_LEVEL).astype(np.float32)
    else:
        digit = mask.astype(np.float32)
        if side > LEVEL_SIZE:
            # Max-pooling keeps a one-pixel line a line; averaging would fade it away.
            digit = _max_pool(digit, math.ceil(side / LEVEL_SIZE))
    # Stroke width as it will be at the 20x20 scale, brought into MNIST's range.
    scale = BOX / max(digit.shape)
    width = stroke_width(digit > INK_LEVEL) * scale
    if width < MIN_STROKE:
        steps = round((TARGET_STROKE - width) / scale / 2)
        digit = _dilate(np.pad(digit, steps), steps)
    elif width > MAX_STROKE:
        thinner = _erode(digit, round((width - TARGET_STROKE) / scale / 2))
        if (thinner > INK_LEVEL).sum() >= 0.2 * (digit > INK_LEVEL).sum():
            digit = thinner  # but never erode a digit away
    rows, cols = _bbox(digit > FRINGE)
    return digit[rows, cols]


def mnist_pixels(grey: np.ndarray) -> tuple[np.ndarray, bool]:
    """Grey levels (1 = white) -> (uint8 (28, 28) light-on-dark MNIST digit, whether inverted)."""
    ink, inverted = _ink(grey)
    digit = _digit(ink)
    h, w = digit.shape
    scale = BOX / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    small = np.clip(_resize(digit, size), 0.0, 1.0)
    small /= max(float(small.max()), 1e-6)
    # Integer shift putting the centre of mass at MNIST's centre, kept inside the field.
    rows, cols = np.indices(small.shape)
    mass = float(small.sum())
    cy, cx = float((rows * small).sum()) / mass, float((cols * small).sum()) / mass
    top = min(max(round(CENTRE - cy), 0), IMAGE_SHAPE[0] - small.shape[0])
    left = min(max(round(CENTRE - cx), 0), IMAGE_SHAPE[1] - small.shape[1])
    field = np.zeros(IMAGE_SHAPE, dtype=np.float32)
    field[top : top + small.shape[0], left : left + small.shape[1]] = small
    return np.round(field * 255.0).astype(np.uint8), inverted
