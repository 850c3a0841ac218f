"""The served-model interface and the registry, on the shipped repository and copies of it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from mnist_serve.errors import ArtifactError, ModelNotFound
from mnist_serve.repository import model_names, read_model_json, versions
from mnist_serve.runtime import ModelRegistry, verify_artifacts
from tests.conftest import MODELS, served_version, version_one_repository


@pytest.fixture(scope="module")
def registry() -> ModelRegistry:
    return ModelRegistry.load(MODELS)


def test_every_repository_model_is_served_at_its_highest_version(registry):
    assert registry.names() == model_names(MODELS) == ["mlp", "xgboost"]
    for model in registry.models:
        assert model.version == served_version(model.name)
        # The default serving artifact: the first listed (the MLP's int8 graph from version 2).
        meta = read_model_json(MODELS / model.name / model.version)
        serving = [a for a in meta["artifacts"] if a["role"] == "serving"]
        assert model.metadata["artifact"] == serving[0]


def test_predict_proba_shape_and_normalisation(registry):
    x = np.random.default_rng(0).random((7, 784), dtype=np.float32)
    for model in registry.models:
        proba = model.predict_proba(x)
        assert proba.shape == (7, 10)
        assert proba.dtype == np.float32
        np.testing.assert_allclose(proba.sum(axis=1), 1, atol=1e-4)


def test_shipped_artifacts_match_their_checksums():
    results = verify_artifacts(MODELS)
    listed = {
        f"{name}/{version}/{artifact['path']}"
        for name in model_names(MODELS)
        for version in versions(MODELS / name)
        for artifact in read_model_json(MODELS / name / str(version))["artifacts"]
    }
    assert set(results) == listed
    # Version 1 stays shipped beside newer ones: rolling back is moving a directory away.
    assert {"mlp/1/mlp.onnx", "xgboost/1/xgboost.onnx"} <= listed
    assert all(results.values()), results


def test_unknown_model_and_version(registry):
    with pytest.raises(ModelNotFound, match="no model named"):
        registry.get("resnet")
    with pytest.raises(ModelNotFound, match="no version"):
        registry.get("mlp", "999")
    assert registry.get("mlp", registry.get("mlp").version).name == "mlp"


copy_models = version_one_repository


def edit_model_json(path: Path, **changes) -> None:
    meta = json.loads((path / "model.json").read_text())
    meta.update(changes)
    (path / "model.json").write_text(json.dumps(meta))


def add_version(target: Path, name: str, version: int, source: int = 1) -> Path:
    """A copy of an existing version under a new number (same bytes, new model.json)."""
    path = target / name / str(version)
    shutil.copytree(target / name / str(source), path)
    edit_model_json(path, version=version)
    return path


def corrupt(file: Path) -> None:
    blob = bytearray(file.read_bytes())
    blob[len(blob) // 2] ^= 1
    file.write_bytes(bytes(blob))


def test_an_empty_repository_says_what_layout_is_expected(tmp_path):
    with pytest.raises(ArtifactError, match=r"<name>/<version>/model.json.*mnist-serve train"):
        ModelRegistry.load(tmp_path)


def test_missing_artifact(tmp_path):
    target = copy_models(tmp_path)
    (target / "mlp" / "1" / "mlp.onnx").unlink()
    with pytest.raises(ArtifactError, match=r"no valid version of mlp: .*mlp.onnx is missing"):
        ModelRegistry.load(target)


def test_checksum_mismatch_refuses_to_load(tmp_path):
    target = copy_models(tmp_path)
    corrupt(target / "xgboost" / "1" / "xgboost.onnx")
    with pytest.raises(ArtifactError, match=r"xgboost\.onnx has sha256"):
        ModelRegistry.load(target)


def test_a_corrupted_original_is_refused_too(tmp_path):
    target = copy_models(tmp_path)
    corrupt(target / "mlp" / "1" / "mlp.keras")
    with pytest.raises(ArtifactError, match=r"mlp\.keras has sha256"):
        ModelRegistry.load(target)


def test_model_json_must_match_its_directory(tmp_path):
    target = copy_models(tmp_path)
    edit_model_json(target / "mlp" / "1", version=7)
    with pytest.raises(ArtifactError, match="sits in mlp/1/"):
        ModelRegistry.load(target)


def test_the_highest_valid_version_is_served(tmp_path):
    target = copy_models(tmp_path)
    add_version(target, "mlp", 3)
    corrupt(add_version(target, "mlp", 4) / "mlp.onnx")
    # Not versions: a staging directory, a leading zero, zero, and a directory without model.json.
    for name in (".tmp-9-abc", "07", "0"):
        shutil.copytree(target / "mlp" / "3", target / "mlp" / name)
        edit_model_json(target / "mlp" / name, version=9)
    (target / "mlp" / "8").mkdir()
    registry = ModelRegistry.load(target)
    assert registry.get("mlp").version == "3"
    assert registry.get("xgboost").version == "1"
    assert ("mlp", "4") in registry.refused
    with pytest.raises(ModelNotFound, match=r"refused: .*mlp.onnx has sha256"):
        registry.get("mlp", "4")
    assert [m["version"] for m in registry.ensemble.metadata["members"]] == ["3", "1"]


def test_refresh_rolls_forward_falls_back_and_reuses_what_is_loaded(tmp_path):
    target = copy_models(tmp_path)
    first = ModelRegistry.load(target)
    same, events = first.refreshed()
    assert same is first and events == []

    add_version(target, "mlp", 2)
    second, events = first.refreshed()
    assert second.get("mlp").version == "2"
    assert second.get("xgboost") is first.get("xgboost")  # unchanged: not reloaded
    assert events == ["model mlp: now serving version 2 (was 1)"]
    assert first.get("mlp").version == "1"  # the old registry is untouched (in-flight requests)

    bad = add_version(target, "mlp", 3)
    corrupt(bad / "mlp.onnx")
    third, events = second.refreshed()
    assert third.get("mlp") is second.get("mlp")
    assert len(events) == 1 and events[0].startswith("model mlp: refused version 3:")
    assert "mlp.onnx has sha256" in events[0]
    again, events = third.refreshed()  # refused once, not retried until its files change
    assert again is third and events == []

    shutil.rmtree(bad)
    shutil.rmtree(target / "mlp" / "2")
    fourth, events = third.refreshed()
    assert fourth.get("mlp").version == "1"
    assert fourth.refused == {}  # its directory is gone: nothing left to report
    assert events == ["model mlp: now serving version 1 (was 2)"]

    shutil.rmtree(target / "mlp")
    fifth, events = fourth.refreshed()
    assert fifth.get("mlp") is fourth.get("mlp")
    assert "no valid version left" in events[0]


def test_a_variant_is_chosen_among_serving_artifacts(tmp_path):
    target = copy_models(tmp_path)
    path = target / "mlp" / "1"
    meta = read_model_json(path)
    fp32 = meta["artifacts"][0]
    shutil.copy(path / "mlp.onnx", path / "mlp-copy.onnx")
    meta["artifacts"].insert(0, dict(fp32, path="mlp-copy.onnx", variant="copy"))
    (path / "model.json").write_text(json.dumps(meta))
    assert ModelRegistry.load(target).get("mlp").metadata["artifact"]["variant"] == "copy"
    chosen = ModelRegistry.load(target, variant="fp32")
    assert chosen.get("mlp").metadata["artifact"]["path"] == "mlp.onnx"
    assert chosen.get("xgboost").metadata["artifact"]["variant"] == "fp32"


def test_a_third_model_needs_only_a_directory(tmp_path):
    target = copy_models(tmp_path)
    shutil.copytree(target / "mlp", target / "mlp-copy")
    edit_model_json(target / "mlp-copy" / "1", name="mlp-copy")
    registry = ModelRegistry.load(target)
    assert registry.names() == ["mlp", "mlp-copy", "xgboost"]
    x = np.zeros((1, 784), dtype=np.float32)
    out = registry.predict_all(x)
    np.testing.assert_array_equal(out["mlp-copy"], out["mlp"])
    assert [m["name"] for m in registry.ensemble.metadata["members"]] == registry.names()
    x = np.ones((2, 784), dtype=np.float32) / 2
    expected = np.mean([m.predict_proba(x) for m in registry.models], axis=0)
    np.testing.assert_allclose(registry.ensemble.predict_proba(x), expected, rtol=1e-6, atol=1e-7)


def test_ensemble_is_served_but_not_a_repository_model(registry):
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


def test_ensemble_name_version_and_metrics_from_ensemble_json(tmp_path):
    target = copy_models(tmp_path)
    settings = {"name": "mean", "version": 3, "metrics": {"test_accuracy": 0.98}}
    (target / "ensemble.json").write_text(json.dumps(settings))
    registry = ModelRegistry.load(target)
    model = registry.get("mean", "3")
    assert model.metadata["metrics"] == {"test_accuracy": 0.98}
    with pytest.raises(ModelNotFound):
        registry.get("ensemble")


def test_a_model_named_like_the_ensemble_is_refused(tmp_path):
    target = copy_models(tmp_path)
    (target / "xgboost").rename(target / "ensemble")
    edit_model_json(target / "ensemble" / "1", name="ensemble")
    with pytest.raises(ArtifactError, match="ensemble"):
        ModelRegistry.load(target)


def test_one_model_makes_no_ensemble(tmp_path):
    target = copy_models(tmp_path)
    shutil.rmtree(target / "xgboost")
    registry = ModelRegistry.load(target)
    assert registry.ensemble is None
    assert [m.name for m in registry.served] == registry.names() == ["mlp"]


def test_observer_sees_every_prediction_but_not_the_warm_up(tmp_path):
    seen = []
    registry = ModelRegistry.load(MODELS, observer=lambda *a: seen.append(a[:3]))
    assert seen == []
    registry.predict_all(np.zeros((3, 784), dtype=np.float32))
    registry.get("ensemble").predict_proba(np.zeros((2, 784), dtype=np.float32))
    mlp, xgb = served_version("mlp"), served_version("xgboost")
    assert seen == [
        ("mlp", mlp, 3),
        ("xgboost", xgb, 3),
        ("mlp", mlp, 2),
        ("xgboost", xgb, 2),
        ("ensemble", "1", 2),
    ]
