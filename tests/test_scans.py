"""Form-scan lookalikes: upright, stretched, flagged 1s, 8x8 counts, through prepare_image's path."""

from __future__ import annotations

import numpy as np

from mnist_serve import scans
from mnist_serve.augment import Augmentation, augment


def _slanted_bar() -> np.ndarray:
    """A 1 written as a '/': 2 px wide, 16 px tall, leaning right."""
    image = np.zeros((28, 28), dtype=np.float32)
    for r in range(6, 22):
        c = 16 - (r - 6) // 3
        image[r, c : c + 2] = 1.0
    return image


def _columns(image: np.ndarray) -> int:
    return int((image > 0.5).any(axis=0).sum())


def test_deslant_makes_a_leaning_bar_upright():
    bar = _slanted_bar()
    upright = scans.deslant(bar)
    assert _columns(upright) < _columns(bar)
    assert abs(upright.sum() - bar.sum()) < 0.05 * bar.sum()  # sheared, not lost


def test_flag_adds_a_stroke_down_and_left_from_the_top():
    bar = scans.deslant(_slanted_bar())
    flagged = scans.add_flag(bar, 0.5, 45.0)
    added = (flagged > 0.5) & ~(bar > 0.5)
    assert added.sum() > 5
    rows, cols = np.nonzero(added)
    top_ink = np.nonzero((bar > 0.5).any(axis=1))[0]
    bar_cols = np.nonzero((bar > 0.5).any(axis=0))[0]
    assert cols.min() < bar_cols.min()  # to the left of the bar
    assert rows.max() < top_ink[len(top_ink) // 2]  # in its upper half


def test_counts_stretch_a_bar_into_the_box_like_nist():
    counts = scans.nist_counts(_slanted_bar(), width=24, ink_pixels=300)
    assert counts.shape == (8, 8) and counts.min() >= 0 and counts.max() <= 16
    assert (counts > 0).any(axis=1).all()  # full height
    assert (counts > 0).any(axis=0).sum() >= 3  # a 2 px bar became several cells wide
    assert 250 <= counts.sum() <= 16 * 64


def test_render_gives_an_mnist_form_digit():
    counts = scans.nist_counts(_slanted_bar(), width=20, ink_pixels=300)
    pixels = scans.render(counts)
    assert pixels.shape == (28, 28) and pixels.dtype == np.uint8
    rows = np.nonzero(pixels.any(axis=1))[0]
    assert rows[-1] - rows[0] + 1 == 20  # MNIST's 20-pixel box


def test_scanned_is_seeded_and_independent_of_workers():
    rng = np.random.default_rng(0)
    x = np.stack([_slanted_bar().reshape(784)] * 5 + [np.zeros(784, np.float32)])
    y = np.array([1, 1, 1, 7, 7, 3])
    params = Augmentation(scan_fraction=0.5, scan_flag_ones=1.0)
    one = scans.scanned(x, y, np.random.default_rng(3), params, workers=1)
    assert one.shape == x.shape and one.dtype == np.float32 and 0 <= one.min() <= one.max() <= 1
    np.testing.assert_array_equal(one[-1], x[-1])  # a blank digit is kept as it was
    assert not np.array_equal(one[0], x[0])
    scans_chunk = scans.CHUNK
    try:
        scans.CHUNK = 2  # three chunks, so two spawned workers really share them
        rng = np.random.default_rng(3)
        assert np.array_equal(
            scans.scanned(x, y, rng, params, workers=1),
            scans.scanned(x, y, np.random.default_rng(3), params, workers=2),
        )
    finally:
        scans.CHUNK = scans_chunk


def test_augment_mixes_in_a_share_of_scans_and_keeps_its_draws_without_them():
    x = np.random.default_rng(1).random((400, 784), dtype=np.float32)
    marker = np.full_like(x, 0.5)
    params = Augmentation(scan_fraction=0.3, keep_fraction=0.0)
    mixed = augment(x, np.random.default_rng(2), params, marker)
    share = np.all(mixed == 0.5, axis=1).mean()
    assert 0.2 < share < 0.4
    plain = augment(x, np.random.default_rng(2), params)
    no_scans = Augmentation(scan_fraction=0.0, keep_fraction=0.0)
    np.testing.assert_array_equal(plain, augment(x, np.random.default_rng(2), no_scans))
