"""`prepare_image`: any image file -> MNIST's 28x28 form, or a 4xx error saying what is wrong."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from mnist_serve.errors import InvalidInput, PayloadTooLarge
from mnist_serve.images import (
    CENTRE,
    decode_image,
    looks_like_image,
    prepare_image,
    stroke_width,
)
from mnist_serve.runtime import ModelRegistry
from tests.conftest import MODELS, SHARED_MNIST
from tests.drawing import BAD_IMAGES, draw_digit, encode

LIMIT = 4096 * 4096


def prepared(image: Image.Image, fmt: str = "PNG", **options):
    return prepare_image(encode(image, fmt, **options), LIMIT)


def correlation(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a.astype(float).ravel(), b.astype(float).ravel())[0, 1])


@pytest.fixture(scope="module")
def registry() -> ModelRegistry:
    return ModelRegistry.load(MODELS)


def read(registry: ModelRegistry, result) -> dict[str, int]:
    return {name: int(p.argmax()) for name, p in registry.predict_all(result.vector()).items()}


# --- MNIST's form ---------------------------------------------------------------------------


def test_output_is_mnist_shaped_light_on_dark_and_centred_by_mass():
    result = prepared(draw_digit(7, size=300, stroke=30, canvas=(900, 700), at=(50, 380)))
    pixels = result.pixels
    assert pixels.shape == (28, 28) and pixels.dtype == np.uint8
    assert result.inverted is True
    assert pixels.max() == 255 and pixels[0].max() == 0 and pixels[:, 0].max() == 0
    rows, cols = np.nonzero(pixels)
    assert max(np.ptp(rows), np.ptp(cols)) + 1 == 20  # fitted to the 20x20 box
    mass = pixels.astype(float)
    cy = (mass.sum(axis=1) * np.arange(28)).sum() / mass.sum()
    cx = (mass.sum(axis=0) * np.arange(28)).sum() / mass.sum()
    assert abs(cy - CENTRE) <= 0.5 and abs(cx - CENTRE) <= 0.5
    vector = result.vector()
    assert vector.shape == (1, 784) and vector.dtype == np.float32 and vector.max() == 1.0


def test_position_and_margin_do_not_matter():
    a = prepared(draw_digit(4, size=120, stroke=12, canvas=(400, 400), at=(10, 10)))
    b = prepared(draw_digit(4, size=120, stroke=12, canvas=(1000, 300), at=(850, 170)))
    assert np.array_equal(a.pixels, b.pixels)


def test_size_does_not_matter_much():
    big = prepared(draw_digit(4, size=1500, stroke=150, canvas=(2000, 2000)))
    small = prepared(draw_digit(4, size=60, stroke=6, canvas=(80, 80)))
    assert big.width == 2000
    assert correlation(big.pixels, small.pixels) > 0.9


def test_a_large_jpeg_photo_is_decoded_at_reduced_scale_and_reports_its_size(registry):
    photo = draw_digit(4, size=2000, stroke=200, canvas=(3000, 2400)).convert("RGB")
    data = encode(photo, "JPEG", quality=85)
    decoded, full_size = decode_image(data, LIMIT)
    assert full_size == (3000, 2400)
    # JPEG's DCT scaling: 3000 px wide fits the 1024 px working size at 1/2, never at full scale.
    assert decoded.size == (1500, 1200)
    result = prepare_image(data, LIMIT)
    assert (result.format, result.width, result.height) == ("JPEG", 3000, 2400)
    assert read(registry, result) == {"mlp": 4, "xgboost": 4}


def test_light_on_dark_is_not_inverted_and_reads_the_same():
    dark_on_light = prepared(draw_digit(7, ink=0, paper=255))
    light_on_dark = prepared(draw_digit(7, ink=255, paper=0))
    assert (dark_on_light.inverted, light_on_dark.inverted) == (True, False)
    assert np.abs(dark_on_light.pixels.astype(int) - light_on_dark.pixels).max() <= 1


@pytest.mark.parametrize("stroke", [1, 3, 50])
def test_thin_and_thick_strokes_come_out_mnist_wide(stroke):
    pixels = prepared(draw_digit(7, size=400, stroke=stroke, canvas=(500, 500))).pixels
    # MNIST's strokes, measured the same way: 2.1 to 4.4 px (5th to 95th percentile).
    assert 2.0 <= stroke_width(pixels > 127) <= 4.6


def test_grey_low_contrast_paper_is_normalised():
    crisp = prepared(draw_digit(7, ink=0, paper=255))
    pencil = prepared(draw_digit(7, ink=120, paper=200))
    assert pencil.pixels.max() == 255
    assert correlation(crisp.pixels, pencil.pixels) > 0.97


def test_noise_and_specks_are_ignored():
    clean = draw_digit(7, size=200, stroke=18, canvas=(400, 400))
    rng = np.random.default_rng(0)
    noisy = np.asarray(clean, dtype=float) + rng.normal(0, 20, (400, 400))
    specks = rng.random((400, 400)) < 0.002  # isolated black dots all over the page
    noisy[specks] = 0
    result = prepared(Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8)))
    assert correlation(prepared(clean).pixels, result.pixels) > 0.95


def test_jpeg_artefacts_change_little():
    image = draw_digit(7, size=100, stroke=10, canvas=(160, 160))
    assert correlation(prepared(image).pixels, prepared(image, "JPEG", quality=15).pixels) > 0.95


@pytest.mark.parametrize(
    "mode",
    ["RGB", "RGBA", "P", "LA", "1", "I;16", "CMYK"],
)
def test_every_pixel_format_reads_the_same(mode):
    reference = prepared(draw_digit(4, size=100, stroke=10)).pixels
    grey = draw_digit(4, size=100, stroke=10)
    if mode == "I;16":  # 16-bit greyscale PNG
        image = Image.fromarray(np.asarray(grey, dtype=np.uint16) * 257)
        assert image.mode == "I;16"
    else:
        image = grey.convert(mode)
    fmt = "JPEG" if mode == "CMYK" else "PNG"
    result = prepared(image, fmt)
    assert correlation(reference, result.pixels) > 0.97


def test_transparency_is_composited_on_white():
    reference = prepared(draw_digit(4, size=100, stroke=10)).pixels
    # Black ink on a transparent background, as a drawing app exports it.
    alpha = Image.eval(draw_digit(4, size=100, stroke=10), lambda v: 255 - v)
    rgba = Image.merge("RGBA", (*[Image.new("L", alpha.size, 0)] * 3, alpha))
    assert np.array_equal(prepared(rgba).pixels, reference)
    # A GIF whose white paper is its transparent palette entry.
    gif = draw_digit(4, size=100, stroke=10).convert("P")
    white = gif.getpixel((0, 0))
    assert correlation(prepared(gif, "GIF", transparency=white).pixels, reference) > 0.99


def test_exif_rotation_is_applied():
    upright = draw_digit(7, size=100, stroke=10, canvas=(200, 260))
    # Stored lying on its side, with EXIF saying "rotate 90 degrees clockwise to view".
    stored = upright.transpose(Image.Transpose.ROTATE_90)
    exif = Image.Exif()
    exif[0x0112] = 6
    result = prepared(stored, "JPEG", quality=95, exif=exif)
    assert (result.width, result.height) == (200, 260)
    assert correlation(result.pixels, prepared(upright, "JPEG", quality=95).pixels) > 0.97


def test_a_5x5_icon_is_read(registry):
    icon = np.full((5, 5), 255, dtype=np.uint8)
    icon[:, 2] = 0  # a one-pixel vertical bar
    result = prepared(Image.fromarray(icon))
    assert result.pixels.max() == 255
    assert read(registry, result) == {"mlp": 1, "xgboost": 1}


@pytest.mark.parametrize("label", [0, 1, 4, 7])
@pytest.mark.parametrize(
    ("size", "stroke", "canvas"),
    [(200, 16, None), (200, 2, None), (1500, 60, (2000, 2000)), (12, 2, (16, 16))],
    ids=["drawing", "hairline", "photo-2000px", "icon-16px"],
)
def test_both_models_read_clear_drawn_digits(registry, label, size, stroke, canvas):
    result = prepared(draw_digit(label, size=size, stroke=stroke, canvas=canvas))
    assert read(registry, result) == {"mlp": label, "xgboost": label}


def test_an_mnist_digit_as_a_28px_image_comes_back_unchanged():
    if not SHARED_MNIST.is_dir():
        pytest.skip("no ../shared/mnist here")
    from mnist_serve.data import load_from_dir

    digits = load_from_dir(SHARED_MNIST).x_test[:200]
    unchanged = 0
    for digit in digits:
        result = prepared(Image.fromarray(255 - digit))  # black on white
        # Rounding of the centre of mass may move it by a pixel, and the contrast stretch
        # (darkest ink -> 255) may change grey levels a little; nothing else changes.
        best = min(
            np.abs(np.roll(result.pixels.astype(int), (dy, dx), axis=(0, 1)) - digit).max()
            for dy in (-1, 0, 1)
            for dx in (-1, 0, 1)
        )
        unchanged += best <= 3
    assert unchanged >= 198


# --- bad images -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "error", "text"), [b[1:] for b in BAD_IMAGES], ids=[b[0] for b in BAD_IMAGES]
)
def test_bad_images_raise_a_client_error_saying_what_is_wrong(data, error, text):
    with pytest.raises(error) as info:
        prepare_image(data, LIMIT)
    assert text in info.value.message
    assert 400 <= info.value.status_code < 500


def test_isolated_specks_are_not_a_digit():
    page = np.full((100, 100), 255, dtype=np.uint8)
    page[10, 10] = page[50, 80] = page[90, 30] = 0
    with pytest.raises(InvalidInput, match="specks"):
        prepare_image(encode(Image.fromarray(page)), LIMIT)


def test_the_pixel_limit_is_the_callers():
    data = encode(draw_digit(7, size=100, stroke=10))  # 200x200
    assert prepare_image(data, 200 * 200).pixels.max() == 255
    with pytest.raises(PayloadTooLarge) as info:
        prepare_image(data, 200 * 200 - 1)
    assert info.value.details == {"width": 200, "height": 200, "max_pixels": 39_999}


def test_sniffing_recognises_the_accepted_formats():
    image = draw_digit(1, 40, 4)
    for fmt in ("PNG", "JPEG", "GIF", "BMP"):
        assert looks_like_image(encode(image.convert("RGB") if fmt == "JPEG" else image, fmt))
    assert not looks_like_image(b'{"image_vector": []}')
