"""The training pipeline end to end on a small synthetic data set (seconds, not minutes).

Tests using `trained` need TensorFlow and XGBoost (the `train` extra, which `make test`
installs); the rest need neither and run everywhere. In CI a skip fails the run (conftest)."""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest

from mnist_serve import repository, training
from mnist_serve.augment import Augmentation
from mnist_serve.data import load_from_dir
from mnist_serve.errors import ArtifactError
from mnist_serve.repository import read_model_json
from mnist_serve.runtime import ModelRegistry, verify_artifacts
from tests.conftest import ROOT
from tests.test_data import write_mnist_dir

NO_AUGMENT = Augmentation(keep_fraction=1.0)


def tiny_config(out_dir: Path, **kw) -> training.TrainConfig:
    return training.TrainConfig(
        out_dir=out_dir,
        holdout=60,
        mlp=training.MlpParams(
            hidden=(32, 16), epochs=8, batch_size=32, learning_rate=3e-3, augmentation=NO_AUGMENT
        ),
        # Form-scan lookalikes in the mix: the scanning path runs end to end here.
        xgboost=training.XgbParams(
            n_estimators=8,
            max_depth=3,
            augmented_copies=1,
            augmentation=Augmentation(scan_fraction=0.5),
        ),
        **kw,
    )


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> tuple[Path, dict]:
    pytest.importorskip("tensorflow")
    pytest.importorskip("xgboost")
    root = tmp_path_factory.mktemp("train")
    write_mnist_dir(root / "data", n_train=400, n_test=120)
    out = root / "models"
    manifest = training.train(load_from_dir(root / "data"), tiny_config(out, refit_full=True))
    return out, manifest


def test_writes_one_version_directory_per_model(trained):
    out, manifest = trained
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*")) == [
        "mlp",
        "mlp/1",
        "mlp/1/mlp-int8.onnx",
        "mlp/1/mlp.keras",
        "mlp/1/mlp.onnx",
        "mlp/1/model.json",
        "xgboost",
        "xgboost/1",
        "xgboost/1/model.json",
        "xgboost/1/xgboost.onnx",
        "xgboost/1/xgboost.ubj",
    ]
    assert [m["name"] for m in manifest["models"]] == ["mlp", "xgboost"]
    for entry in manifest["models"]:
        assert read_model_json(out / entry["name"] / "1") == entry
        roles = [(a["role"], a.get("variant")) for a in entry["artifacts"]]
        assert roles[-2:] == [("serving", "fp32"), ("original", None)]
        assert entry["data"]["train_rows"] == 400  # refit on everything after validation
        assert entry["data"]["val_rows"] == 60
        assert len(entry["data"]["sha256"]) == 4
        assert "onnxruntime" in entry["libraries"]
    assert all(verify_artifacts(out).values())


def test_training_again_adds_a_version_and_never_overwrites(trained, tmp_path):
    out, _ = trained
    copy = tmp_path / "models"
    shutil.copytree(out, copy)
    before = (copy / "mlp" / "1" / "model.json").read_bytes()
    data = load_from_dir(out.parent / "data")
    small = training.TrainConfig(
        out_dir=copy,
        holdout=0,
        models=("mlp",),
        # Small, but good enough for the int8 check to pass (it refuses a 20%-accurate model).
        mlp=tiny_config(copy).mlp,
    )
    written = training.train(data, small)
    assert [(m["name"], m["version"]) for m in written["models"]] == [("mlp", 2)]
    assert sorted(p.name for p in (copy / "mlp").iterdir()) == ["1", "2"]  # no staging left
    # Readable by other users, like any directory made here (not mkdtemp's 0700).
    umask = os.umask(0)
    os.umask(umask)
    assert (copy / "mlp" / "2").stat().st_mode & 0o777 == 0o777 & ~umask
    assert (copy / "mlp" / "1" / "model.json").read_bytes() == before
    assert ModelRegistry.load(copy).get("mlp").version == "2"
    small.version = 2
    with pytest.raises(FileExistsError, match="never overwritten"):
        training.train(data, small)
    assert sorted(p.name for p in (copy / "mlp").iterdir()) == ["1", "2"]


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
    # The recipe is recorded with the model: `make train` settings can be read back.
    xgb = next(e for e in manifest["models"] if e["name"] == "xgboost")
    assert xgb["params"]["augmentation"]["scan_fraction"] == 0.5
    assert xgb["params"]["augmentation"]["scan_width"] == [18, 28]


def test_served_models_match_the_originals(trained):
    out, _ = trained
    import keras
    import xgboost as xgb

    data = load_from_dir(out.parent / "data")
    x = data.x_test.reshape(-1, 784).astype(np.float32) / 255
    registry = ModelRegistry.load(out, "fp32")  # exact parity: the float32 graph
    mlp = keras.models.load_model(out / "mlp" / "1" / "mlp.keras")
    expected = mlp.predict(x, verbose=0)
    np.testing.assert_allclose(registry.get("mlp").predict_proba(x), expected, atol=1e-4)
    singles = np.concatenate([registry.get("mlp").predict_proba(row[None]) for row in x[:20]])
    np.testing.assert_allclose(singles, expected[:20], atol=1e-4)
    booster = xgb.Booster()
    booster.load_model(out / "xgboost" / "1" / "xgboost.ubj")
    np.testing.assert_allclose(
        registry.get("xgboost").predict_proba(x), booster.predict(xgb.DMatrix(x)), atol=1e-4
    )


def test_xgboost_ships_as_one_regressor_per_class(trained):
    out, _ = trained
    import onnx
    import onnxruntime as ort
    import xgboost as xgb

    xgb_dir = out / "xgboost" / "1"
    ops = [n.op_type for n in onnx.load(xgb_dir / "xgboost.onnx").graph.node]
    assert ops == ["TreeEnsembleRegressor"] * 10 + ["Concat", "Softmax"]
    # Same function as the converter's single classifier node.
    model = xgb.XGBClassifier()
    model.load_model(xgb_dir / "xgboost.ubj")
    training.export_xgboost(model, out.parent / "classifier.onnx", split=False)
    x = np.random.default_rng(1).random((50, 784), dtype=np.float32)
    run = {
        path.name: ort.InferenceSession(path).run(None, {"pixels": x})
        for path in (xgb_dir / "xgboost.onnx", out.parent / "classifier.onnx")
    }
    np.testing.assert_allclose(run["xgboost.onnx"][0], run["classifier.onnx"][1], rtol=0, atol=1e-6)


def test_mlp_ships_int8_by_default_with_its_check(trained):
    import onnx

    out, manifest = trained
    entry = manifest["models"][0]
    assert [(a["role"], a.get("variant")) for a in entry["artifacts"]] == [
        ("serving", "int8"),
        ("serving", "fp32"),
        ("original", None),
    ]
    check = entry["quantization"]
    assert check["passed"] is True
    for way in ("batch", "single"):
        assert check[way]["drop_points"] <= training.INT8_MAX_DROP_POINTS
        assert check[way]["argmax_agreement"] >= training.INT8_MIN_AGREEMENT
    version = out / "mlp" / "1"
    ops = {n.op_type for n in onnx.load(version / "mlp-int8.onnx").graph.node}
    assert ops & {"MatMulInteger", "DynamicQuantizeLinear", "DynamicQuantizeMatMul"}
    # Dense for every batch size: no If/NonZero single-image branch any more.
    assert not {n.op_type for n in onnx.load(version / "mlp.onnx").graph.node} & {"If", "NonZero"}
    default, fp32 = ModelRegistry.load(out), ModelRegistry.load(out, "fp32")
    assert default.get("mlp").metadata["artifact"]["path"] == "mlp-int8.onnx"
    assert fp32.get("mlp").metadata["artifact"]["path"] == "mlp.onnx"
    # XGBoost has one artifact and serves it whatever the precision.
    assert fp32.get("xgboost").metadata["artifact"]["path"] == "xgboost.onnx"
    assert verify_artifacts(out)["mlp/1/mlp-int8.onnx"] is True


def test_int8_check_refuses_a_worse_model(trained):
    out, _ = trained
    data = load_from_dir(out.parent / "data")
    x = data.x_test.reshape(-1, 784).astype(np.float32) / 255
    y = data.y_test.astype(np.int64)
    other = np.eye(10, dtype=np.float32)[(y + 1) % 10]  # a float model that disagrees everywhere
    with pytest.raises(training.ExportMismatch, match="int8 check failed"):
        training.check_int8(out / "mlp" / "1" / "mlp-int8.onnx", x, y, other)


def test_split_refuses_other_graphs(trained):
    import onnx

    with pytest.raises(training.ExportMismatch, match="TreeEnsembleClassifier"):
        training.split_by_class(onnx.load(trained[0] / "mlp" / "1" / "mlp.onnx"))


def test_tampered_artifact_is_refused(trained, tmp_path):
    out, _ = trained
    copy = tmp_path / "models"
    shutil.copytree(out, copy)
    file = copy / "xgboost" / "1" / "xgboost.onnx"
    blob = bytearray(file.read_bytes())
    blob[-1] ^= 1
    file.write_bytes(bytes(blob))
    with pytest.raises(ArtifactError, match="sha256"):
        ModelRegistry.load(copy)
    assert verify_artifacts(copy)["xgboost/1/xgboost.onnx"] is False


def test_export_mismatch_is_caught(trained):
    out, _ = trained
    x = np.random.default_rng(0).random((20, 784), dtype=np.float32)
    wrong = np.full((20, 10), 0.1, dtype=np.float32)
    with pytest.raises(training.ExportMismatch):
        training.check_parity(out / "mlp" / "1" / "mlp.onnx", x, wrong)


def test_training_one_model_keeps_the_other(trained, tmp_path):
    out, manifest = trained
    target = tmp_path / "models"
    shutil.copytree(out, target)
    config = tiny_config(target, models=("xgboost",), version=5, refit_full=False)
    written = training.train(load_from_dir(out.parent / "data"), config)
    assert [(m["name"], m["version"]) for m in written["models"]] == [("xgboost", 5)]
    assert sorted(p.name for p in (target / "mlp").iterdir()) == ["1"]
    assert read_model_json(target / "mlp" / "1") == manifest["models"][0]
    registry = ModelRegistry.load(target)
    assert registry.get("xgboost", "5").version == "5"
    assert registry.get("mlp").version == "1"


@pytest.mark.parametrize(
    ("name", "params"), [("mlp", training.MlpParams()), ("xgboost", training.XgbParams())]
)
def test_default_recipe_is_the_served_versions(name, params):
    """`make train` fits what is served: each default recipe is the one recorded in the
    model.json of the model's highest shipped version."""
    served = repository.versions(ROOT / "models" / name)[0]
    meta = read_model_json(repository.version_dir(ROOT / "models", name, served))
    assert meta["params"] == json.loads(json.dumps(asdict(params)))
    assert meta["data"]["refit_full"] == training.TrainConfig(out_dir=ROOT).refit_full
    assert meta["data"]["val_rows"] == training.TrainConfig(out_dir=ROOT).holdout
