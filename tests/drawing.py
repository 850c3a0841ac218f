"""Synthetic digits drawn with Pillow, and image files built byte by byte: no MNIST needed."""

from __future__ import annotations

import io
import struct
import zlib

from PIL import Image, ImageDraw, ImageFilter

from mnist_serve.errors import InvalidInput, PayloadTooLarge

# Strokes of a few clear digits, in a unit box (x, y from 0 to 1).
STROKES: dict[int, list[list[tuple[float, float]]]] = {
    1: [[(0.5, 0.0), (0.5, 1.0)]],
    7: [[(0.1, 0.0), (0.9, 0.0), (0.35, 1.0)]],
    4: [[(0.65, 1.0), (0.65, 0.0), (0.05, 0.68), (0.95, 0.68)]],
}
ZERO = 0  # drawn as an ellipse


def draw_digit(
    label: int,
    size: int = 200,
    stroke: int = 16,
    canvas: tuple[int, int] | None = None,
    at: tuple[int, int] | None = None,
    ink: int | tuple[int, ...] = 0,
    paper: int | tuple[int, ...] = 255,
    mode: str = "L",
) -> Image.Image:
    """A digit `size` px tall with strokes `stroke` px wide, on a canvas (default: a margin)."""
    canvas = canvas or (size * 2, size * 2)
    at = at or ((canvas[0] - size) // 2, (canvas[1] - size) // 2)
    image = Image.new(mode, canvas, paper)
    pen = ImageDraw.Draw(image)
    x0, y0 = at
    width = size * 0.6
    x0 += (size - width) / 2
    if label == ZERO:
        pen.ellipse((x0, y0, x0 + width, y0 + size), outline=ink, width=stroke)
        return image
    for line in STROKES[label]:
        points = [(x0 + x * width, y0 + y * size) for x, y in line]
        pen.line(points, fill=ink, width=stroke, joint="curve")
        r = stroke / 2
        for px, py in (points[0], points[-1]):
            pen.ellipse((px - r, py - r, px + r, py + r), fill=ink)
    return image


def encode(image: Image.Image, fmt: str = "PNG", **options) -> bytes:
    out = io.BytesIO()
    image.save(out, format=fmt, **options)
    return out.getvalue()


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_bomb(width: int, height: int) -> bytes:
    """A valid 1-bit PNG of width x height white pixels: a few kB that decode to a huge image."""
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    row = b"\x00" + b"\xff" * ((width + 7) // 8)
    packer = zlib.compressobj(9)
    data = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", data)
        + _chunk(b"IEND", b"")
    )


def jpeg_declaring(width: int, height: int) -> bytes:
    """A small real JPEG whose frame header is rewritten to declare width x height."""
    data = bytearray(encode(draw_digit(1, 40, 6), "JPEG"))
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def truncated_png() -> bytes:
    data = encode(draw_digit(7, size=100, stroke=10))
    return data[: len(data) // 2]


def truncated_jpeg() -> bytes:
    data = encode(draw_digit(7, size=100, stroke=10).filter(ImageFilter.GaussianBlur(2)), "JPEG")
    return data[: len(data) // 2]


def animated_gif() -> bytes:
    frames = [draw_digit(d, size=40, stroke=4).convert("P") for d in (1, 7)]
    out = io.BytesIO()
    frames[0].save(out, "GIF", save_all=True, append_images=frames[1:], duration=100)
    return out.getvalue()


# (name, bytes, error class, text the message must contain)
BAD_IMAGES = [
    ("empty", b"", InvalidInput, "0 bytes"),
    ("text", b"hello, I am not a picture", InvalidInput, "not a PNG, JPEG, GIF or BMP"),
    ("webp is not accepted", encode(draw_digit(1, 40, 4), "WEBP"), InvalidInput, "not a PNG"),
    ("truncated png", truncated_png(), InvalidInput, "truncated or corrupt"),
    ("truncated jpeg", truncated_jpeg(), InvalidInput, "truncated or corrupt"),
    ("png header only", truncated_png()[:40], InvalidInput, "truncated or corrupt"),
    ("png bomb 20000x20000", png_bomb(20_000, 20_000), PayloadTooLarge, "400000000 pixels"),
    ("png bomb 5000x5000", png_bomb(5_000, 5_000), PayloadTooLarge, "5000x5000"),
    ("png bomb 100000x1000", png_bomb(100_000, 1_000), PayloadTooLarge, "100000000 pixels"),
    ("jpeg declaring 20000x20000", jpeg_declaring(20_000, 20_000), PayloadTooLarge, "limit"),
    ("animated gif", animated_gif(), InvalidInput, "animated GIF"),
    ("all white", encode(Image.new("L", (64, 64), 255)), InvalidInput, "blank"),
    ("all black", encode(Image.new("RGB", (64, 64), 0)), InvalidInput, "blank"),
    ("all transparent", encode(Image.new("RGBA", (64, 64), (0, 0, 0, 0))), InvalidInput, "blank"),
    ("faint smudge", encode(Image.new("L", (64, 64), 250)), InvalidInput, "blank"),
    ("1x1 pixel", encode(Image.new("L", (1, 1), 0)), InvalidInput, "blank"),
]
