"""The model repository on disk, laid out as TF Serving and Triton lay theirs out.

    <model_dir>/<name>/<version>/model.json      what the version is, and the sha256 of every file
    <model_dir>/<name>/<version>/<artifact(s)>   e.g. mlp.onnx (served), mlp.keras (original)
    <model_dir>/ensemble.json                     optional: the ensemble's name, version, metrics

Versions are positive integers (`1`, `2`, ... no leading zero); the highest valid one is served.
A directory whose name is not such an integer (`.tmp-2-...` while `mnist-serve train` writes it)
is ignored, so a version appears whole, by one rename. This module reads the layout; loading the
artifacts is `runtime`'s job.

`model.json` (format_version 2) lists files in `artifacts`, each with `path`, `sha256`, `bytes`,
`format` and a `role`: `serving` (run by ONNX Runtime) or `original` (the trained model, kept
for audits, never loaded by the server). A version may hold several serving artifacts, told
apart by `variant` (e.g. `int8`, `fp32`): the first listed is the default, and a requested
variant that a model does not have falls back to that default.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

from mnist_serve.data import sha256_file
from mnist_serve.errors import ArtifactError

MODEL_FILE = "model.json"
ENSEMBLE_FILE = "ensemble.json"
FORMAT_VERSION = 2
SERVING = "serving"
ORIGINAL = "original"

_VERSION = re.compile(r"[1-9][0-9]{0,17}")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")

# (file name, size, mtime_ns, inode) of every file in a version directory: cheap to take, and
# it changes whenever a file is added, rewritten or replaced (a half-finished copy included).
Stamp = tuple[tuple[str, int, int, int], ...]


def model_names(model_dir: Path) -> list[str]:
    """Names with at least one complete version directory, sorted (the seed answer's order)."""
    try:
        entries = sorted(os.scandir(model_dir), key=lambda e: e.name)
    except FileNotFoundError:
        return []
    return [e.name for e in entries if _NAME.fullmatch(e.name) and e.is_dir() and versions(e.path)]


def versions(model_path: Path | str) -> list[int]:
    """The complete versions (a directory named by a positive integer, with a model.json),
    highest first."""
    try:
        entries = list(os.scandir(model_path))
    except (FileNotFoundError, NotADirectoryError):
        return []
    found = [
        int(e.name)
        for e in entries
        if _VERSION.fullmatch(e.name) and os.path.isfile(os.path.join(e.path, MODEL_FILE))
    ]
    return sorted(found, reverse=True)


def version_dir(model_dir: Path, name: str, version: int | str) -> Path:
    return Path(model_dir) / name / str(version)


def stamp(path: Path) -> Stamp:
    """What the poller compares to notice that a version directory changed."""
    try:
        entries = sorted(os.scandir(path), key=lambda e: e.name)
        return tuple(
            (e.name, st.st_size, st.st_mtime_ns, st.st_ino) for e in entries for st in [e.stat()]
        )
    except FileNotFoundError:
        return ()


def read_model_json(path: Path) -> dict[str, Any]:
    """A version directory's model.json, checked against the directory it sits in."""
    path = Path(path)
    file = path / MODEL_FILE
    try:
        meta = json.loads(file.read_text())
    except FileNotFoundError as exc:
        raise ArtifactError(f"{file} is missing") from exc
    except ValueError as exc:
        raise ArtifactError(f"{file} is not valid JSON: {exc}") from exc
    if not isinstance(meta, dict):
        raise ArtifactError(f"{file} must hold a JSON object")
    name, version = path.parent.name, path.name
    if meta.get("name") != name or str(meta.get("version")) != version:
        raise ArtifactError(
            f"{file} says {meta.get('name')!r} version {meta.get('version')!r}, but sits in "
            f"{name}/{version}/; fix the file or move the directory"
        )
    artifacts = meta.get("artifacts")
    if not isinstance(artifacts, list) or not all(
        isinstance(a, dict) and {"path", "sha256"} <= a.keys() for a in artifacts
    ):
        raise ArtifactError(f"{file}: `artifacts` must list objects with path and sha256")
    for artifact in artifacts:
        if Path(artifact["path"]).name != artifact["path"]:
            raise ArtifactError(f"{file}: artifact path {artifact['path']!r} must be a file name")
    for key in ("input", "output"):
        if not isinstance(meta.get(key), dict) or "name" not in meta[key]:
            raise ArtifactError(f"{file}: `{key}` must be an object with a name")
    serving_artifacts(meta, file)
    return meta


def serving_artifacts(meta: dict[str, Any], where: Path | str = MODEL_FILE) -> list[dict[str, Any]]:
    """The artifacts the server may run, the default (first) one first."""
    found = [a for a in meta.get("artifacts", []) if a.get("role", SERVING) == SERVING]
    if not found:
        raise ArtifactError(f"{where}: no artifact with role {SERVING!r}")
    return found


def serving_artifact(meta: dict[str, Any], variant: str | None = None) -> dict[str, Any]:
    """The requested variant when the version has it, else the default serving artifact."""
    candidates = serving_artifacts(meta)
    if variant is not None:
        for artifact in candidates:
            if artifact.get("variant") == variant:
                return artifact
    return candidates[0]


def verify_files(path: Path, meta: dict[str, Any]) -> dict[str, bool]:
    """sha256 of every file model.json lists (served and original), True when it matches."""
    return {
        a["path"]: (path / a["path"]).is_file() and sha256_file(path / a["path"]) == a["sha256"]
        for a in meta["artifacts"]
    }


def check_files(path: Path, meta: dict[str, Any], skip: str | None = None) -> None:
    """Raise, naming the file, if a listed file is missing or its sha256 differs."""
    for artifact in meta["artifacts"]:
        if artifact["path"] == skip:
            continue
        file = path / artifact["path"]
        if not file.is_file():
            raise ArtifactError(f"{file} is missing")
        actual = sha256_file(file)
        if actual != artifact["sha256"]:
            raise ArtifactError(f"{file} has sha256 {actual}, model.json says {artifact['sha256']}")


def read_ensemble_settings(model_dir: Path) -> dict[str, Any]:
    """`ensemble.json` at the repository's root, if any: `name`, `version`, `metrics`."""
    file = Path(model_dir) / ENSEMBLE_FILE
    try:
        settings = json.loads(file.read_text())
    except FileNotFoundError:
        return {}
    except ValueError as exc:
        raise ArtifactError(f"{file} is not valid JSON: {exc}") from exc
    if not isinstance(settings, dict):
        raise ArtifactError(f"{file} must hold a JSON object")
    return settings


def check_repository(model_dir: Path) -> list[str]:
    """The model names, or an error telling the operator what layout is expected."""
    names = model_names(model_dir)
    if not names:
        raise ArtifactError(
            f"no models in {model_dir}: expected {model_dir}/<name>/<version>/{MODEL_FILE}; "
            "run `mnist-serve train` or set MNIST_SERVE_MODEL_DIR"
        )
    return names


def next_version(model_dir: Path, name: str) -> int:
    """One above the highest version directory present, complete or not."""
    try:
        taken = [
            int(e.name) for e in os.scandir(Path(model_dir) / name) if _VERSION.fullmatch(e.name)
        ]
    except FileNotFoundError:
        taken = []
    return max(taken, default=0) + 1
