"""The served-model interface and the registry, on the shipped artifacts."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from mnist_serve.errors import ArtifactError, ModelNotFound
from mnist_serve.runtime import ModelRegistry, read_manifest, verify_artifacts
from tests.conftest import MODELS


@pytest.fixture(scope="module")
def registry() -> ModelRegistry:
    return ModelRegistry.load(MODELS)


def test_every_manifest_entry_is_served(registry):
    manifest = read_manifest(MODELS)
    assert registry.names() == [m["name"] for m in manifest["models"]]
    for model in registry.models:
        assert model.version == str(
            manifest["models"][registry.names().index(model.name)]["version"]
        )


def test_predict_proba_shape_and_normalisation(registry):
    x = np.random.default_rng(0).random((7, 784), dtype=np.float32)
    for model in registry.models:
        proba = model.predict_proba(x)
        assert proba.shape == (7, 10)
        assert proba.dtype == np.float32
        np.testing.assert_allclose(proba.sum(axis=1), 1, atol=1e-4)


def test_shipped_artifacts_match_their_checksums():
    results = verify_artifacts(MODELS)
    assert results and all(results.values()), results


def test_unknown_model_and_version(registry):
    with pytest.raises(ModelNotFound, match="no model named"):
        registry.get("resnet")
    with pytest.raises(ModelNotFound, match="no version"):
        registry.get("mlp", "999")
    assert registry.get("mlp", registry.get("mlp").version).name == "mlp"


def copy_models(tmp_path):
    target = tmp_path / "models"
    shutil.copytree(MODELS, target)
    return target


def test_missing_manifest(tmp_path):
    with pytest.raises(ArtifactError, match="mnist-serve train"):
        ModelRegistry.load(tmp_path)


def test_missing_artifact(tmp_path):
    target = copy_models(tmp_path)
    (target / "mlp.onnx").unlink()
    with pytest.raises(ArtifactError, match="missing"):
        ModelRegistry.load(target)


def test_checksum_mismatch_refuses_to_load(tmp_path):
    target = copy_models(tmp_path)
    manifest = json.loads((target / "manifest.json").read_text())
    manifest["models"][0]["artifact"]["sha256"] = "0" * 64
    (target / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ArtifactError, match="sha256"):
        ModelRegistry.load(target)


def test_a_third_model_needs_only_a_manifest_entry(tmp_path):
    target = copy_models(tmp_path)
    manifest = json.loads((target / "manifest.json").read_text())
    clone = dict(manifest["models"][0], name="mlp-copy")
    manifest["models"].append(clone)
    (target / "manifest.json").write_text(json.dumps(manifest))
    registry = ModelRegistry.load(target)
    assert registry.names()[-1] == "mlp-copy"
    x = np.zeros((1, 784), dtype=np.float32)
    out = registry.predict_all(x)
    np.testing.assert_array_equal(out["mlp-copy"], out["mlp"])
