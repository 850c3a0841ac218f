"""MNIST on disk: IDX (`.gz` or raw) and `mnist.npz` reading, checksum-verified download,
and the one pixel-scaling function shared by training and serving."""

from __future__ import annotations

import gzip
import hashlib
import os
import shutil
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mnist_serve.errors import DataError

N_PIXELS = 784
IMAGE_SHAPE = (28, 28)
N_CLASSES = 10

# The four original files (Yann LeCun's MNIST), by sha256: a download must match exactly.
MNIST_FILES: dict[str, str] = {
    "train-images-idx3-ubyte.gz": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
    "train-labels-idx1-ubyte.gz": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
    "t10k-images-idx3-ubyte.gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
    "t10k-labels-idx1-ubyte.gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
}
_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def scale_pixels(pixels: np.ndarray) -> np.ndarray:
    """0..255 grey levels -> float32 in [0, 1]; the only scaling, used by training and serving."""
    return np.multiply(pixels, np.float32(1 / 255), dtype=np.float32)


@dataclass(frozen=True)
class MnistData:
    """Images as uint8 (n, 28, 28), labels as uint8 (n,), and where they came from."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    source: str
    sha256: dict[str, str]


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_idx(path: Path) -> np.ndarray:
    """Read one IDX file (gzip-compressed or raw), checking its header against its size."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as exc:
        raise DataError(f"{path}: cannot read ({exc})") from exc
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
        raise DataError(f"{path}: not an IDX file (bad magic number)")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"{path}: truncated IDX header")
    dims = [int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    dtype = np.dtype(_IDX_DTYPES[raw[2]])
    expected = header + int(np.prod(dims)) * dtype.itemsize
    if len(raw) != expected:
        raise DataError(f"{path}: {len(raw)} bytes, header promises {expected}")
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(dims)


def _find(directory: Path, name: str) -> Path | None:
    for candidate in (directory / name, directory / name.removesuffix(".gz")):
        if candidate.is_file():
            return candidate
    return None


def load_from_dir(directory: Path) -> MnistData:
    """Read `mnist.npz` or the four IDX files (`.gz` or raw) from a folder the user names."""
    directory = Path(directory)
    npz = directory / "mnist.npz"
    if npz.is_file():
        with np.load(npz, allow_pickle=False) as arrays:
            parts = [arrays[k] for k in ("x_train", "y_train", "x_test", "y_test")]
        return _checked(MnistData(*parts, source=str(npz), sha256={"mnist.npz": sha256_file(npz)}))
    paths = {name: _find(directory, name) for name in MNIST_FILES}
    missing = [name for name, path in paths.items() if path is None]
    if missing:
        raise DataError(
            f"{directory}: no mnist.npz and missing IDX files {missing} (raw or .gz accepted)"
        )
    found = {name: path for name, path in paths.items() if path is not None}
    arrays = [read_idx(found[name]) for name in MNIST_FILES]
    return _checked(
        MnistData(
            arrays[0],
            arrays[1],
            arrays[2],
            arrays[3],
            source=str(directory),
            sha256={p.name: sha256_file(p) for p in found.values()},
        )
    )


def _checked(data: MnistData) -> MnistData:
    for split, x, y in (("train", data.x_train, data.y_train), ("test", data.x_test, data.y_test)):
        if x.ndim != 3 or x.shape[1:] != IMAGE_SHAPE or x.dtype != np.uint8:
            raise DataError(f"{split} images must be uint8 (n, 28, 28), got {x.dtype} {x.shape}")
        if y.shape != (x.shape[0],):
            raise DataError(f"{split}: {x.shape[0]} images but labels of shape {y.shape}")
        if y.size and (y.min() < 0 or y.max() >= N_CLASSES):
            raise DataError(f"{split} labels must be 0..9")
    return data


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "mnist-serve" / "mnist"


def download(
    mirror: str,
    cache_dir: Path | None = None,
    files: dict[str, str] = MNIST_FILES,
    timeout: float = 60.0,
) -> Path:
    """Fetch each file once into the cache; keep it only if its sha256 matches."""
    cache_dir = Path(cache_dir or default_cache_dir())
    cache_dir.mkdir(parents=True, exist_ok=True)
    for name, expected in files.items():
        target = cache_dir / name
        if target.is_file() and sha256_file(target) == expected:
            continue
        url = mirror.rstrip("/") + "/" + name
        print(f"downloading {url}", flush=True)
        with tempfile.NamedTemporaryFile(dir=cache_dir, delete=False) as tmp:
            try:
                with urllib.request.urlopen(url, timeout=timeout) as response:
                    shutil.copyfileobj(response, tmp)
            except (urllib.error.URLError, OSError) as exc:
                os.unlink(tmp.name)
                raise DataError(
                    f"cannot download {url} ({exc}). Offline? Pass a folder that holds the "
                    "MNIST IDX files or mnist.npz with --data-dir DIR "
                    "(or set MNIST_SERVE_MNIST_MIRROR to a reachable mirror)."
                ) from exc
        actual = sha256_file(Path(tmp.name))
        if actual != expected:
            os.unlink(tmp.name)
            raise DataError(f"{url}: sha256 {actual} does not match the expected {expected}")
        os.replace(tmp.name, target)
    return cache_dir


def load_mnist(data_dir: Path | None = None, mirror: str | None = None) -> MnistData:
    """From `data_dir` when given, else from the verified download cache."""
    if data_dir is not None:
        return load_from_dir(Path(data_dir))
    if mirror is None:
        from mnist_serve.config import load_settings

        mirror = load_settings().mnist_mirror  # MNIST_SERVE_MNIST_MIRROR, or the default
    return load_from_dir(download(mirror))
