"""The training pipeline end to end on a small synthetic data set (seconds, not minutes)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from mnist_serve import training
from mnist_serve.augment import Augmentation
from mnist_serve.data import load_from_dir
from mnist_serve.errors import ArtifactError
from mnist_serve.runtime import ModelRegistry, verify_artifacts
from tests.test_data import write_mnist_dir

pytest.importorskip("tensorflow")
pytest.importorskip("xgboost")


NO_AUGMENT = Augmentation(keep_fraction=1.0)


def tiny_config(out_dir: Path, **kw) -> training.TrainConfig:
    return training.TrainConfig(
        out_dir=out_dir,
        holdout=60,
        mlp=training.MlpParams(
            hidden=(32, 16), epochs=8, batch_size=32, learning_rate=3e-3, augmentation=NO_AUGMENT
        ),
        xgboost=training.XgbParams(n_estimators=8, max_depth=3, augmented_copies=1),
        **kw,
    )


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("train")
    write_mnist_dir(root / "data", n_train=400, n_test=120)
    out = root / "models"
    manifest = training.train(load_from_dir(root / "data"), tiny_config(out))
    return out, manifest


def test_writes_artifacts_originals_and_manifest(trained):
    out, manifest = trained
    assert sorted(p.name for p in out.iterdir()) == [
        "manifest.json",
        "mlp-int8.onnx",
        "mlp.keras",
        "mlp.onnx",
        "xgboost.onnx",
        "xgboost.ubj",
    ]
    assert json.loads((out / "manifest.json").read_text()) == manifest
    assert [m["name"] for m in manifest["models"]] == ["mlp", "xgboost"]
    assert manifest["data"]["train_rows"] == 400  # refit on everything after validation
    assert manifest["data"]["val_rows"] == 60
    assert len(manifest["data"]["sha256"]) == 4
    assert "onnxruntime" in manifest["libraries"]
    assert all(verify_artifacts(out).values())


def test_metrics_and_parity_are_recorded(trained):
    _, manifest = trained
    for entry in manifest["models"]:
        metrics = entry["metrics"]
        assert 0 <= metrics["val_accuracy"] <= 1
        # The synthetic classes are easy: a working pipeline learns them.
        assert metrics["test_accuracy"] > 0.5, entry["name"]
        assert entry["export_parity"]["argmax_disagreements"] == 0
        assert entry["export_parity"]["max_abs_diff"] <= training.PARITY_ATOL
        assert entry["params"]


def test_served_models_match_the_originals(trained):
    out, _ = trained
    import keras
    import xgboost as xgb

    data = load_from_dir(out.parent / "data")
    x = data.x_test.reshape(-1, 784).astype(np.float32) / 255
    registry = ModelRegistry.load(out, precision="fp32")  # exact parity: the float32 graph
    mlp = keras.models.load_model(out / "mlp.keras")
    expected = mlp.predict(x, verbose=0)
    np.testing.assert_allclose(registry.get("mlp").predict_proba(x), expected, atol=1e-4)
    singles = np.concatenate([registry.get("mlp").predict_proba(row[None]) for row in x[:20]])
    np.testing.assert_allclose(singles, expected[:20], atol=1e-4)
    booster = xgb.Booster()
    booster.load_model(out / "xgboost.ubj")
    np.testing.assert_allclose(
        registry.get("xgboost").predict_proba(x), booster.predict(xgb.DMatrix(x)), atol=1e-4
    )


def test_xgboost_ships_as_one_regressor_per_class(trained):
    out, _ = trained
    import onnx
    import onnxruntime as ort
    import xgboost as xgb

    ops = [n.op_type for n in onnx.load(out / "xgboost.onnx").graph.node]
    assert ops == ["TreeEnsembleRegressor"] * 10 + ["Concat", "Softmax"]
    # Same function as the converter's single classifier node.
    model = xgb.XGBClassifier()
    model.load_model(out / "xgboost.ubj")
    training.export_xgboost(model, out.parent / "classifier.onnx", split=False)
    x = np.random.default_rng(1).random((50, 784), dtype=np.float32)
    run = {
        path.name: ort.InferenceSession(path).run(None, {"pixels": x})
        for path in (out / "xgboost.onnx", out.parent / "classifier.onnx")
    }
    np.testing.assert_allclose(run["xgboost.onnx"][0], run["classifier.onnx"][1], rtol=0, atol=1e-6)


def test_mlp_ships_int8_by_default_with_its_check(trained):
    import onnx

    out, manifest = trained
    entry = manifest["models"][0]
    assert entry["precision"] == "int8"
    assert entry["artifact"] == entry["variants"]["int8"]
    assert entry["variants"]["fp32"]["path"] == "mlp.onnx"
    check = entry["quantization"]
    assert check["passed"] is True
    for way in ("batch", "single"):
        assert check[way]["drop_points"] <= training.INT8_MAX_DROP_POINTS
        assert check[way]["argmax_agreement"] >= training.INT8_MIN_AGREEMENT
    ops = {n.op_type for n in onnx.load(out / "mlp-int8.onnx").graph.node}
    assert ops & {"MatMulInteger", "DynamicQuantizeLinear", "DynamicQuantizeMatMul"}
    # Dense for every batch size: no If/NonZero single-image branch any more.
    assert not {n.op_type for n in onnx.load(out / "mlp.onnx").graph.node} & {"If", "NonZero"}
    default, fp32 = ModelRegistry.load(out), ModelRegistry.load(out, precision="fp32")
    assert default.get("mlp").metadata["artifact"]["path"] == "mlp-int8.onnx"
    assert fp32.get("mlp").metadata["artifact"]["path"] == "mlp.onnx"
    assert fp32.get("mlp").metadata["precision"] == "fp32"
    # XGBoost has one artifact and serves it whatever the precision.
    assert fp32.get("xgboost").metadata["artifact"]["path"] == "xgboost.onnx"
    assert all(verify_artifacts(out).values()) and "mlp-int8.onnx" in verify_artifacts(out)


def test_int8_check_refuses_a_worse_model(trained):
    out, _ = trained
    data = load_from_dir(out.parent / "data")
    x = data.x_test.reshape(-1, 784).astype(np.float32) / 255
    y = data.y_test.astype(np.int64)
    other = np.eye(10, dtype=np.float32)[(y + 1) % 10]  # a float model that disagrees everywhere
    with pytest.raises(training.ExportMismatch, match="int8 check failed"):
        training.check_int8(out / "mlp-int8.onnx", x, y, other)


def test_unknown_precision_is_refused(trained, tmp_path):
    out, _ = trained
    manifest = json.loads((out / "manifest.json").read_text())
    manifest["models"][0]["variants"].pop("fp32")
    copy = tmp_path / "models"
    shutil.copytree(out, copy)
    (copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ArtifactError, match="MNIST_SERVE_PRECISION"):
        ModelRegistry.load(copy, precision="fp32")


def test_split_refuses_other_graphs(trained):
    import onnx

    with pytest.raises(training.ExportMismatch, match="TreeEnsembleClassifier"):
        training.split_by_class(onnx.load(trained[0] / "mlp.onnx"))


def test_tampered_artifact_is_refused(trained, tmp_path):
    out, _ = trained
    copy = tmp_path / "models"
    shutil.copytree(out, copy)
    blob = bytearray((copy / "xgboost.onnx").read_bytes())
    blob[-1] ^= 1
    (copy / "xgboost.onnx").write_bytes(bytes(blob))
    with pytest.raises(ArtifactError, match="sha256"):
        ModelRegistry.load(copy)
    assert verify_artifacts(copy)["xgboost.onnx"] is False


def test_export_mismatch_is_caught(trained):
    out, _ = trained
    x = np.random.default_rng(0).random((20, 784), dtype=np.float32)
    wrong = np.full((20, 10), 0.1, dtype=np.float32)
    with pytest.raises(training.ExportMismatch):
        training.check_parity(out / "mlp.onnx", x, wrong)


def test_training_one_model_keeps_the_other(trained, tmp_path):
    out, manifest = trained
    target = tmp_path / "models"
    shutil.copytree(out, target)
    config = tiny_config(target, models=("xgboost",), version="2", refit_full=False)
    merged = training.train(load_from_dir(out.parent / "data"), config)
    by_name = {m["name"]: m for m in merged["models"]}
    assert by_name["mlp"] == manifest["models"][0]
    assert by_name["xgboost"]["version"] == "2"
    assert ModelRegistry.load(target).get("xgboost", "2").version == "2"
