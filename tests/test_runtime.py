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


def test_ensemble_is_served_but_not_a_manifest_model(registry):
    ensemble = registry.get("ensemble")
    assert ensemble is registry.ensemble
    assert [m.name for m in registry.served] == [*registry.names(), "ensemble"]
    assert "ensemble" not in registry.names()
    assert set(registry.predict_all(np.zeros((1, 784), dtype=np.float32))) == set(registry.names())
    assert ensemble.metadata["platform"] == "ensemble"
    assert [m["name"] for m in ensemble.metadata["members"]] == registry.names()
    assert ensemble.metadata["input"] == registry.models[0].metadata["input"]


def test_ensemble_averages_the_members(registry):
    x = np.random.default_rng(1).random((5, 784), dtype=np.float32)
    expected = np.mean([m.predict_proba(x) for m in registry.models], axis=0)
    got = registry.get("ensemble", registry.ensemble.version).predict_proba(x)
    assert got.dtype == np.float32 and got.shape == (5, 10)
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(got.sum(axis=1), 1, atol=1e-4)
    with pytest.raises(ModelNotFound, match="no version"):
        registry.get("ensemble", "2")


def test_ensemble_name_version_and_metrics_from_the_manifest(tmp_path):
    target = copy_models(tmp_path)
    manifest = json.loads((target / "manifest.json").read_text())
    manifest["ensemble"] = {"name": "mean", "version": 3, "metrics": {"test_accuracy": 0.98}}
    (target / "manifest.json").write_text(json.dumps(manifest))
    registry = ModelRegistry.load(target)
    model = registry.get("mean", "3")
    assert model.metadata["metrics"] == {"test_accuracy": 0.98}
    with pytest.raises(ModelNotFound):
        registry.get("ensemble")


def test_a_model_named_like_the_ensemble_is_refused(tmp_path):
    target = copy_models(tmp_path)
    manifest = json.loads((target / "manifest.json").read_text())
    manifest["models"][1]["name"] = "ensemble"
    (target / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ArtifactError, match="ensemble"):
        ModelRegistry.load(target)


def test_one_model_makes_no_ensemble(tmp_path):
    target = copy_models(tmp_path)
    manifest = json.loads((target / "manifest.json").read_text())
    manifest["models"] = manifest["models"][:1]
    (target / "manifest.json").write_text(json.dumps(manifest))
    registry = ModelRegistry.load(target)
    assert registry.ensemble is None
    assert [m.name for m in registry.served] == registry.names()


def test_a_third_model_joins_the_ensemble(tmp_path):
    target = copy_models(tmp_path)
    manifest = json.loads((target / "manifest.json").read_text())
    manifest["models"].append(dict(manifest["models"][0], name="mlp-copy"))
    (target / "manifest.json").write_text(json.dumps(manifest))
    registry = ModelRegistry.load(target)
    assert [m["name"] for m in registry.ensemble.metadata["members"]] == registry.names()
    x = np.ones((2, 784), dtype=np.float32) / 2
    expected = np.mean([m.predict_proba(x) for m in registry.models], axis=0)
    np.testing.assert_allclose(registry.ensemble.predict_proba(x), expected, rtol=1e-6, atol=1e-7)
