"""IDX / npz reading and the checksum-verified download, against a local HTTP server."""

from __future__ import annotations

import functools
import gzip
import hashlib
import http.server
import threading
from pathlib import Path

import numpy as np
import pytest

from mnist_serve import data
from mnist_serve.errors import DataError


def synthetic_split(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Learnable fake digits: class k is a bright bar at row 4 + 2k, plus noise."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, n).astype(np.uint8)
    images = rng.integers(0, 40, (n, 28, 28)).astype(np.uint8)
    for i, k in enumerate(labels):
        images[i, 4 + 2 * k : 6 + 2 * k, 4:24] = 255
    return images, labels


def write_idx(path: Path, array: np.ndarray) -> None:
    """Write a uint8 array as gzip IDX (the server only reads IDX; tests build small sets)."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(
        int(d).to_bytes(4, "big") for d in array.shape
    )
    with gzip.open(path, "wb") as f:
        f.write(header + array.tobytes())


def write_mnist_dir(directory: Path, n_train: int = 300, n_test: int = 100, gz: bool = True):
    directory.mkdir(parents=True, exist_ok=True)
    parts = dict(
        zip(
            data.MNIST_FILES,
            [*synthetic_split(n_train, 0), *synthetic_split(n_test, 1)],
            strict=True,
        )
    )
    for name, array in parts.items():
        write_idx(directory / name, array)
        if not gz:
            raw = gzip.decompress((directory / name).read_bytes())
            (directory / name).unlink()
            (directory / name.removesuffix(".gz")).write_bytes(raw)
    return parts


def test_scale_pixels_maps_0_255_to_unit_float32():
    out = data.scale_pixels(np.array([0, 51, 255], dtype=np.uint8))
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, [0, 0.2, 1], rtol=1e-6)


@pytest.mark.parametrize("gz", [True, False])
def test_idx_round_trip(tmp_path, gz):
    parts = write_mnist_dir(tmp_path, gz=gz)
    loaded = data.load_from_dir(tmp_path)
    np.testing.assert_array_equal(loaded.x_train, parts["train-images-idx3-ubyte.gz"])
    np.testing.assert_array_equal(loaded.y_test, parts["t10k-labels-idx1-ubyte.gz"])
    assert loaded.x_train.shape == (300, 28, 28)
    assert len(loaded.sha256) == 4


def test_npz_is_read_without_pickle(tmp_path):
    x, y = synthetic_split(50, 0)
    np.savez(tmp_path / "mnist.npz", x_train=x, y_train=y, x_test=x[:10], y_test=y[:10])
    loaded = data.load_from_dir(tmp_path)
    assert loaded.x_test.shape == (10, 28, 28)
    assert list(loaded.sha256) == ["mnist.npz"]


def test_npz_with_objects_is_refused(tmp_path):
    objects = np.array([{"a": 1}], dtype=object)
    np.savez(
        tmp_path / "mnist.npz", x_train=objects, y_train=objects, x_test=objects, y_test=objects
    )
    with pytest.raises(ValueError, match="pickle"):
        data.load_from_dir(tmp_path)


def test_truncated_idx_is_an_error(tmp_path):
    write_mnist_dir(tmp_path)
    path = tmp_path / "train-images-idx3-ubyte.gz"
    raw = gzip.decompress(path.read_bytes())
    path.write_bytes(gzip.compress(raw[:-10]))
    with pytest.raises(DataError, match="header promises"):
        data.load_from_dir(tmp_path)


def test_not_an_idx_file(tmp_path):
    (tmp_path / "x.gz").write_bytes(gzip.compress(b"hello world"))
    with pytest.raises(DataError, match="magic"):
        data.read_idx(tmp_path / "x.gz")


def test_missing_files_are_named(tmp_path):
    with pytest.raises(DataError, match="t10k-labels"):
        data.load_from_dir(tmp_path)


@pytest.fixture
def mirror(tmp_path):
    """A local HTTP server serving a folder of IDX files, with a request log."""
    root = tmp_path / "mirror"
    write_mnist_dir(root)
    requests_seen: list[str] = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            requests_seen.append(self.path)

    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Handler, directory=str(root))
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/", root, requests_seen
    server.shutdown()
    server.server_close()


def checksums(root: Path) -> dict[str, str]:
    return {
        name: hashlib.sha256((root / name).read_bytes()).hexdigest() for name in data.MNIST_FILES
    }


def test_download_verifies_and_caches(tmp_path, mirror):
    url, root, seen = mirror
    cache = tmp_path / "cache"
    data.download(url, cache, checksums(root))
    assert sorted(p.name for p in cache.iterdir()) == sorted(data.MNIST_FILES)
    first = len(seen)
    assert first == 4
    data.download(url, cache, checksums(root))  # second call: served from the cache
    assert len(seen) == first
    assert data.load_from_dir(cache).x_train.shape == (300, 28, 28)


def test_download_rejects_a_checksum_mismatch(tmp_path, mirror):
    url, root, _ = mirror
    sums = checksums(root)
    sums["train-images-idx3-ubyte.gz"] = "0" * 64
    cache = tmp_path / "cache"
    with pytest.raises(DataError, match="does not match"):
        data.download(url, cache, sums)
    assert not (cache / "train-images-idx3-ubyte.gz").exists()
    assert not [p for p in cache.iterdir() if p.name.startswith("tmp")]


def test_unreachable_mirror_says_how_to_use_data_dir(tmp_path):
    with pytest.raises(DataError, match="--data-dir"):
        data.download("http://127.0.0.1:9/", tmp_path, timeout=5)


def test_shipped_checksums_match_the_shared_test_files():
    shared = Path(__file__).resolve().parents[2] / "shared" / "mnist"
    if not shared.is_dir():
        pytest.skip("no ../shared/mnist on this machine")
    for name in (
        "t10k-images-idx3-ubyte.gz",
        "t10k-labels-idx1-ubyte.gz",
        "train-labels-idx1-ubyte.gz",
    ):
        assert data.sha256_file(shared / name) == data.MNIST_FILES[name]
