"""Served models: ONNX artifacts listed in `manifest.json`, verified by sha256, run by ONNX Runtime.

Adding a model means adding an entry to the manifest; nothing here names `mlp` or `xgboost`.
The registry also serves `ensemble`, the average of every loaded model's probabilities.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from mnist_serve.data import N_CLASSES, N_PIXELS, sha256_file
from mnist_serve.errors import ArtifactError, ModelNotFound

MANIFEST = "manifest.json"


def _session_options() -> ort.SessionOptions:
    """One thread per session: Gunicorn's worker processes provide the parallelism."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    return options


@dataclass
class ServedModel:
    """The narrow interface every protocol uses: name, version, predict_proba."""

    name: str
    version: str
    metadata: dict[str, Any]
    session: ort.InferenceSession = field(repr=False)
    input_name: str
    output_name: str

    @classmethod
    def from_entry(
        cls, model_dir: Path, entry: dict[str, Any], precision: str | None = None
    ) -> ServedModel:
        """`precision` picks one of the entry's `variants` (e.g. "fp32" next to the default
        "int8"); a model without variants (XGBoost's trees) serves its one artifact."""
        artifact = entry["artifact"]
        variants = entry.get("variants") or {}
        if precision and variants:
            if precision not in variants:
                raise ArtifactError(
                    f"{entry['name']}: no {precision!r} artifact (MNIST_SERVE_PRECISION); "
                    f"this model has {sorted(variants)}"
                )
            artifact = variants[precision]
            entry = {**entry, "artifact": artifact, "precision": precision}
        path = model_dir / artifact["path"]
        if not path.is_file():
            raise ArtifactError(f"{entry['name']}: artifact {path} is missing")
        # Read once, hash what we load: no window between the check and the load.
        payload = path.read_bytes()
        actual = hashlib.sha256(payload).hexdigest()
        if actual != artifact["sha256"]:
            raise ArtifactError(
                f"{entry['name']}: {path} has sha256 {actual}, manifest says {artifact['sha256']}"
            )
        try:
            session = ort.InferenceSession(
                payload, sess_options=_session_options(), providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # onnxruntime raises its own untyped errors
            raise ArtifactError(f"{entry['name']}: ONNX Runtime cannot load {path}: {exc}") from exc
        return cls(
            name=entry["name"],
            version=str(entry["version"]),
            metadata=entry,
            session=session,
            input_name=entry["input"]["name"],
            output_name=entry["output"]["name"],
        )

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        """float32 (n, 784) in [0, 1] -> float32 (n, 10) class probabilities."""
        return self.session.run([self.output_name], {self.input_name: x})[0]

    def warm_up(self) -> None:
        """Run once so the first real request does not pay for lazy initialisation."""
        out = self.predict_proba(np.zeros((1, N_PIXELS), dtype=np.float32))
        if out.shape != (1, N_CLASSES):
            raise ArtifactError(f"{self.name}: output shape {out.shape}, expected (1, 10)")


ENSEMBLE_NAME = "ensemble"
ENSEMBLE_VERSION = "1"


@dataclass
class EnsembleModel:
    """The mean of its members' probabilities, behind the same narrow interface as one model.

    Its metadata is derived from the members (their input/output spec, versions, sha256);
    an optional top-level `"ensemble"` object in the manifest may set `name`, `version` and
    `metrics` (for instance an accuracy measured at training time).
    """

    name: str
    version: str
    metadata: dict[str, Any]
    members: list[ServedModel] = field(repr=False)

    @classmethod
    def of(cls, members: list[ServedModel], settings: dict[str, Any]) -> EnsembleModel:
        first = members[0].metadata
        metadata = {
            "name": settings.get("name", ENSEMBLE_NAME),
            "version": str(settings.get("version", ENSEMBLE_VERSION)),
            "platform": "ensemble",
            "input": first["input"],
            "output": first["output"],
            "members": [
                {
                    "name": m.name,
                    "version": m.version,
                    "sha256": m.metadata.get("artifact", {}).get("sha256"),
                    "metrics": m.metadata.get("metrics", {}),
                }
                for m in members
            ],
            "metrics": dict(settings.get("metrics", {})),
        }
        return cls(metadata["name"], metadata["version"], metadata, members)

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        """float32 (n, 784) in [0, 1] -> float32 (n, 10), the members' mean."""
        total = np.array(self.members[0].predict_proba(x), dtype=np.float32, copy=True)
        for member in self.members[1:]:
            total += member.predict_proba(x)
        total /= np.float32(len(self.members))
        return total


class ModelRegistry:
    """The loaded models, in manifest order, found by name (and optionally version).

    `models` are the manifest's models (what the seed endpoint answers with); `served` adds
    the ensemble, which every peer protocol (KServe V2, TF Serving) offers like any model.
    """

    def __init__(self, models: list[ServedModel], manifest: dict[str, Any]) -> None:
        self.models = models
        self.manifest = manifest
        self.ensemble = _build_ensemble(models, manifest)
        self.served: list[ServedModel | EnsembleModel] = [*models]
        if self.ensemble is not None:
            self.served.append(self.ensemble)
        self._by_name = {m.name: m for m in self.served}

    @classmethod
    def load(cls, model_dir: Path, precision: str | None = None) -> ModelRegistry:
        model_dir = Path(model_dir)
        manifest = read_manifest(model_dir)
        models = [
            ServedModel.from_entry(model_dir, entry, precision) for entry in manifest["models"]
        ]
        for model in models:
            model.warm_up()
        return cls(models, manifest)

    def get(self, name: str, version: str | None = None) -> ServedModel | EnsembleModel:
        model = self._by_name.get(name)
        if model is None:
            raise ModelNotFound(f"no model named {name!r}", available=list(self._by_name))
        if version is not None and version != model.version:
            raise ModelNotFound(
                f"model {name!r} has no version {version!r} loaded", available=[model.version]
            )
        return model

    def names(self) -> list[str]:
        """The manifest's model names (the ensemble is in `served`, not here)."""
        return [m.name for m in self.models]

    def predict_all(self, x: np.ndarray) -> dict[str, np.ndarray]:
        """Every model's (n, 10) probabilities for the same input."""
        return {m.name: m.predict_proba(x) for m in self.models}


def _build_ensemble(models: list[ServedModel], manifest: dict[str, Any]) -> EnsembleModel | None:
    """An ensemble needs two members or more; a manifest model may not take its name."""
    settings = manifest.get("ensemble") or {}
    if len(models) < 2:
        return None
    ensemble = EnsembleModel.of(models, settings)
    if ensemble.name in {m.name for m in models}:
        raise ArtifactError(
            f"the manifest names a model {ensemble.name!r}, which is the ensemble's name; "
            'rename the model or set {"ensemble": {"name": ...}} in the manifest'
        )
    return ensemble


def read_manifest(model_dir: Path) -> dict[str, Any]:
    path = Path(model_dir) / MANIFEST
    try:
        manifest = json.loads(path.read_text())
    except FileNotFoundError as exc:
        raise ArtifactError(f"no {MANIFEST} in {model_dir}: run `mnist-serve train`") from exc
    except ValueError as exc:
        raise ArtifactError(f"{path} is not valid JSON: {exc}") from exc
    if not isinstance(manifest, dict) or not manifest.get("models"):
        raise ArtifactError(f"{path} lists no models")
    return manifest


def verify_artifacts(model_dir: Path) -> dict[str, bool]:
    """sha256 of every file the manifest names (served and original), True when it matches."""
    manifest = read_manifest(model_dir)
    results = {}
    for entry in manifest["models"]:
        items = [
            entry.get("artifact"),
            entry.get("original"),
            *(entry.get("variants") or {}).values(),
        ]
        for item in items:
            if item:
                path = Path(model_dir) / item["path"]
                results[item["path"]] = path.is_file() and sha256_file(path) == item["sha256"]
    return results
