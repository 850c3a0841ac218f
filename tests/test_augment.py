"""Training-time distortions: seeded, in range, and each kind does what it says."""

from __future__ import annotations

import numpy as np

from mnist_serve.augment import Augmentation, augment


def _bar() -> np.ndarray:
    """A vertical bar 2 px wide, 12 px tall, in the middle of the field."""
    image = np.zeros((28, 28), dtype=np.float32)
    image[8:20, 13:15] = 1.0
    return image.reshape(1, 784)


def only(**kw) -> Augmentation:
    none = {"scale": (1.0, 1.0), "aspect": (1.0, 1.0), "shear": 0.0, "rotate_degrees": 0.0}
    none |= {"shift_pixels": 0.0, "thickness": (0, 0), "coarse_fraction": 0.0}
    return Augmentation(**{**none, "keep_fraction": 0.0, **kw})


def test_same_seed_same_digits_and_range():
    x = np.random.default_rng(0).random((50, 784), dtype=np.float32)
    a = augment(x, np.random.default_rng(7))
    b = augment(x, np.random.default_rng(7))
    np.testing.assert_array_equal(a, b)
    assert a.shape == x.shape and a.dtype == np.float32
    assert a.min() >= 0 and a.max() <= 1
    assert not np.array_equal(a, augment(x, np.random.default_rng(8)))


def test_identity_when_nothing_is_drawn():
    x = _bar()
    np.testing.assert_allclose(augment(x, np.random.default_rng(0), only()), x, atol=1e-5)


def test_each_distortion():
    x = _bar()
    rng = np.random.default_rng(0)
    smaller = augment(x, rng, only(scale=(0.5, 0.5))).reshape(28, 28)
    assert 0.15 < smaller.sum() / x.sum() < 0.35  # half the size: a quarter of the ink
    rotated = augment(x, rng, only(rotate_degrees=90.0)).reshape(28, 28)
    assert not np.allclose(rotated, x.reshape(28, 28), atol=0.1)
    thicker = augment(x, rng, only(thickness=(1.0, 1.0)))
    thinner = augment(x, rng, only(thickness=(-1.0, -1.0)))
    assert thicker.sum() > x.sum() > thinner.sum()
    moved = augment(x, rng, only(shift_pixels=3.0)).reshape(28, 28)
    assert abs(moved.sum() - x.sum()) < 1.0  # moved, not lost


def test_keep_fraction_keeps_originals():
    x = np.random.default_rng(1).random((200, 784), dtype=np.float32)
    out = augment(x, np.random.default_rng(2), Augmentation(keep_fraction=1.0))
    np.testing.assert_array_equal(out, x)
