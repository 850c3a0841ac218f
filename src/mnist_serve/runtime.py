"""Served models: the highest valid version of each model in the repository (`repository`),
verified by sha256, run by ONNX Runtime.

Adding a model means adding a `<name>/<version>/` directory; nothing here names `mlp` or
`xgboost`. The registry also serves `ensemble`, the average of every loaded model's probabilities.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from mnist_serve import repository
from mnist_serve.data import N_CLASSES, N_PIXELS
from mnist_serve.errors import ArtifactError, ModelNotFound

log = logging.getLogger("mnist_serve.models")


def _session_options() -> ort.SessionOptions:
    """One thread per session: Gunicorn's worker processes provide the parallelism."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    return options


# Called after each prediction with (model name, version, images, seconds): the metrics hook.
InferenceObserver = Callable[[str, str, int, float], None]


@dataclass
class ServedModel:
    """The narrow interface every protocol uses: name, version, predict_proba."""

    name: str
    version: str
    metadata: dict[str, Any]
    session: ort.InferenceSession = field(repr=False)
    input_name: str
    output_name: str
    stamp: repository.Stamp = field(default=(), repr=False)
    observer: InferenceObserver | None = field(default=None, repr=False)

    @classmethod
    def load(
        cls,
        path: Path,
        variant: str | None = None,
        observer: InferenceObserver | None = None,
    ) -> ServedModel:
        """Verify every file of a version directory (sha256), then load its serving artifact."""
        path = Path(path)
        stamp = repository.stamp(path)
        meta = repository.read_model_json(path)
        artifact = repository.serving_artifact(meta, variant)
        file = path / artifact["path"]
        if not file.is_file():
            raise ArtifactError(f"{file} is missing")
        # Read once, hash what we load: no window between the check and the load.
        payload = file.read_bytes()
        actual = hashlib.sha256(payload).hexdigest()
        if actual != artifact["sha256"]:
            raise ArtifactError(f"{file} has sha256 {actual}, model.json says {artifact['sha256']}")
        repository.check_files(path, meta, skip=artifact["path"])
        try:
            session = ort.InferenceSession(
                payload, sess_options=_session_options(), providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # onnxruntime raises its own untyped errors
            raise ArtifactError(f"{file}: ONNX Runtime cannot load it: {exc}") from exc
        metadata = {**meta, "version": str(meta["version"]), "artifact": artifact}
        return cls(
            name=meta["name"],
            version=str(meta["version"]),
            metadata=metadata,
            session=session,
            input_name=meta["input"]["name"],
            output_name=meta["output"]["name"],
            stamp=stamp,
            observer=observer,
        )

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        """float32 (n, 784) in [0, 1] -> float32 (n, 10) class probabilities."""
        if self.observer is None:
            return self.session.run([self.output_name], {self.input_name: x})[0]
        started = time.perf_counter()
        out = self.session.run([self.output_name], {self.input_name: x})[0]
        self.observer(self.name, self.version, len(x), time.perf_counter() - started)
        return out

    def warm_up(self) -> None:
        """Run once so the first real request does not pay for lazy initialisation."""
        out = self.session.run(
            [self.output_name], {self.input_name: np.zeros((1, N_PIXELS), dtype=np.float32)}
        )[0]
        if out.shape != (1, N_CLASSES):
            raise ArtifactError(f"{self.name}: output shape {out.shape}, expected (1, 10)")


ENSEMBLE_NAME = "ensemble"
ENSEMBLE_VERSION = "1"


@dataclass
class EnsembleModel:
    """The mean of its members' probabilities, behind the same narrow interface as one model.

    Its metadata is derived from the members (their input/output spec, versions, sha256);
    an optional `ensemble.json` at the repository's root may set `name`, `version` and
    `metrics` (for instance an accuracy measured at training time).
    """

    name: str
    version: str
    metadata: dict[str, Any]
    members: list[ServedModel] = field(repr=False)
    observer: InferenceObserver | None = field(default=None, repr=False)

    @classmethod
    def of(
        cls,
        members: list[ServedModel],
        settings: dict[str, Any],
        observer: InferenceObserver | None = None,
    ) -> EnsembleModel:
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
        return cls(metadata["name"], metadata["version"], metadata, members, observer)

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        """float32 (n, 784) in [0, 1] -> float32 (n, 10), the members' mean."""
        started = time.perf_counter()
        total = np.array(self.members[0].predict_proba(x), dtype=np.float32, copy=True)
        for member in self.members[1:]:
            total += member.predict_proba(x)
        total /= np.float32(len(self.members))
        if self.observer is not None:
            self.observer(self.name, self.version, len(x), time.perf_counter() - started)
        return total


@dataclass(frozen=True)
class LoadOptions:
    """How versions are loaded: which serving variant, and who observes each prediction."""

    variant: str | None = None
    observer: InferenceObserver | None = None


class ModelRegistry:
    """The served version of every model in the repository, found by name (and version).

    `models` are the repository's models, sorted by name (what the seed endpoint answers
    with); `served` adds the ensemble, derived from them, which every peer protocol (KServe V2,
    TF Serving) offers like any model. A registry never changes: a rollout builds a new one
    (`refreshed`) and swaps it in, so a request keeps the models it started with.
    """

    def __init__(
        self,
        models: list[ServedModel],
        ensemble_settings: dict[str, Any] | None = None,
        refused: dict[tuple[str, str], Refusal] | None = None,
        model_dir: Path | None = None,
        options: LoadOptions | None = None,
    ) -> None:
        self.models = models
        self.ensemble_settings = ensemble_settings or {}
        self.refused = dict(refused or {})
        self.model_dir = model_dir
        self.options = options or LoadOptions()
        self.ensemble = _build_ensemble(models, self.ensemble_settings, self.options.observer)
        self.served: list[ServedModel | EnsembleModel] = [*models]
        if self.ensemble is not None:
            self.served.append(self.ensemble)
        self._by_name = {m.name: m for m in self.served}

    @classmethod
    def load(
        cls, model_dir: Path, variant: str | None = None, observer: InferenceObserver | None = None
    ) -> ModelRegistry:
        """The highest valid version of every model; fails, naming why, if a model has none."""
        model_dir = Path(model_dir)
        repository.check_repository(model_dir)
        registry = cls([], model_dir=model_dir, options=LoadOptions(variant, observer))
        fresh, events = registry.refreshed()
        for event in events:
            log.warning("%s", event)
        missing = sorted(set(repository.model_names(model_dir)) - set(fresh.names()))
        if missing:
            reasons = "; ".join(r.reason for r in fresh.refused.values() if r.name in missing)
            raise ArtifactError(f"no valid version of {', '.join(missing)}: {reasons}")
        return fresh

    def refreshed(self) -> tuple[ModelRegistry, list[str]]:
        """The registry the repository calls for now, and one log line per change or refusal.

        Reuses loaded models whose directory is unchanged; loads, verifies and warms the rest;
        a version that fails is refused (remembered until its files change) and the next
        highest is tried. A model whose every version vanished keeps its loaded one.
        """
        assert self.model_dir is not None, "a registry built by hand cannot refresh"
        current = {m.name: m for m in self.models}
        refused = dict(self.refused)
        models, events = [], []
        names = repository.model_names(self.model_dir)
        for name in sorted(set(names) | set(current)):
            model = self._pick(name, current.get(name), refused, events)
            if model is None:
                continue
            old = current.get(name)
            if old is not None and old is not model:
                events.append(
                    f"model {name}: now serving version {model.version} (was {old.version})"
                )
            elif old is None and self.models:
                events.append(f"model {name}: now serving version {model.version} (new model)")
            models.append(model)
        settings = repository.read_ensemble_settings(self.model_dir)
        unchanged = [id(m) for m in models] == [id(m) for m in self.models]
        if unchanged and refused == self.refused and settings == self.ensemble_settings:
            return self, events
        return ModelRegistry(models, settings, refused, self.model_dir, self.options), events

    def _pick(
        self,
        name: str,
        old: ServedModel | None,
        refused: dict[tuple[str, str], Refusal],
        events: list[str],
    ) -> ServedModel | None:
        """Highest first: the loaded model if it is this version, unchanged, else load it."""
        for number in repository.versions(self.model_dir / name):
            version = str(number)
            path = repository.version_dir(self.model_dir, name, version)
            stamp = repository.stamp(path)
            if old is not None and old.version == version and old.stamp == stamp:
                return old
            known = refused.get((name, version))
            if known is not None and known.stamp == stamp:
                continue
            try:
                model = ServedModel.load(path, self.options.variant, self.options.observer)
                model.warm_up()
            except ArtifactError as exc:
                refused[(name, version)] = Refusal(name, version, stamp, str(exc))
                events.append(f"model {name}: refused version {version}: {exc}")
                continue
            refused.pop((name, version), None)
            return model
        if old is not None:
            events.append(
                f"model {name}: no valid version left in {self.model_dir / name}; "
                f"keeping version {old.version} loaded"
            )
        return old

    def get(self, name: str, version: str | None = None) -> ServedModel | EnsembleModel:
        model = self._by_name.get(name)
        if model is None:
            raise ModelNotFound(f"no model named {name!r}", available=list(self._by_name))
        if version is not None and version != model.version:
            refusal = self.refused.get((name, version))
            reason = f" (refused: {refusal.reason})" if refusal else ""
            raise ModelNotFound(
                f"model {name!r} has no version {version!r} loaded{reason}",
                available=[model.version],
            )
        return model

    def names(self) -> list[str]:
        """The repository's model names (the ensemble is in `served`, not here)."""
        return [m.name for m in self.models]

    def predict_all(self, x: np.ndarray) -> dict[str, np.ndarray]:
        """Every model's (n, 10) probabilities for the same input."""
        return {m.name: m.predict_proba(x) for m in self.models}


@dataclass(frozen=True)
class Refusal:
    """A version that failed verification or loading, and the files it failed with."""

    name: str
    version: str
    stamp: repository.Stamp
    reason: str


def _build_ensemble(
    models: list[ServedModel], settings: dict[str, Any], observer: InferenceObserver | None
) -> EnsembleModel | None:
    """An ensemble needs two members or more; a repository model may not take its name."""
    if len(models) < 2:
        return None
    ensemble = EnsembleModel.of(models, settings, observer)
    if ensemble.name in {m.name for m in models}:
        raise ArtifactError(
            f"the repository has a model named {ensemble.name!r}, which is the ensemble's name; "
            f'rename the model or set {{"name": ...}} in {repository.ENSEMBLE_FILE}'
        )
    return ensemble


def verify_artifacts(model_dir: Path) -> dict[str, bool]:
    """sha256 of every file of every complete version (served and original): True when it
    matches. Keys are `<name>/<version>/<file>`."""
    results = {}
    for name in repository.model_names(model_dir):
        for number in repository.versions(Path(model_dir) / name):
            path = repository.version_dir(model_dir, name, number)
            try:
                meta = repository.read_model_json(path)
            except ArtifactError:
                results[f"{name}/{number}/{repository.MODEL_FILE}"] = False
                continue
            for file, ok in repository.verify_files(path, meta).items():
                results[f"{name}/{number}/{file}"] = ok
    return results
