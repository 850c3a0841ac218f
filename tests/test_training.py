"""The training pipeline end to end on a small synthetic data set (seconds, not minutes).

Tests using `trained` need TensorFlow and XGBoost (the `train` extra, which `make test`
installs); the rest need neither and run everywhere. In CI a skip fails the run (conftest)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from mnist_serve import training
from mnist_serve.data import load_from_dir
from mnist_serve.errors import ArtifactError
from mnist_serve.runtime import ModelRegistry, verify_artifacts
from tests.test_data import write_mnist_dir


def tiny_config(out_dir: Path, **kw) -> training.TrainConfig:
    return training.TrainConfig(
        out_dir=out_dir,
        holdout=60,
        mlp=training.MlpParams(
            hidden=(32, 16), epochs=8, batch_size=32, learning_rate=3e-3, shift_pixels=0
        ),
        xgboost=training.XgbParams(n_estimators=8, max_depth=3),
        **kw,
    )


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> tuple[Path, dict]:
    pytest.importorskip("tensorflow")
    pytest.importorskip("xgboost")
    root = tmp_path_factory.mktemp("train")
    write_mnist_dir(root / "data", n_train=400, n_test=120)
    out = root / "models"
    manifest = training.train(load_from_dir(root / "data"), tiny_config(out))
    return out, manifest


def test_writes_artifacts_originals_and_manifest(trained):
    out, manifest = trained
    assert sorted(p.name for p in out.iterdir()) == [
        "manifest.json",
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
    registry = ModelRegistry.load(out)
    mlp = keras.models.load_model(out / "mlp.keras")
    expected = mlp.predict(x, verbose=0)
    np.testing.assert_allclose(registry.get("mlp").predict_proba(x), expected, atol=1e-4)
    # One image at a time takes the graph's sparse path: same answers.
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


def test_mlp_reads_only_lit_pixels_for_one_image(trained):
    import onnx
    import onnxruntime as ort

    graph = onnx.load(trained[0] / "mlp.onnx").graph
    (branch,) = [n for n in graph.node if n.op_type == "If"]
    then = next(a.g for a in branch.attribute if a.name == "then_branch")
    assert "NonZero" in [n.op_type for n in then.node]
    session = ort.InferenceSession(trained[0] / "mlp.onnx")
    blank = np.zeros((1, 784), dtype=np.float32)  # no lit pixel at all: still a distribution
    proba = session.run(None, {"pixels": blank})[0]
    assert proba.shape == (1, 10) and abs(float(proba.sum()) - 1) < 1e-5
    dense = session.run(None, {"pixels": np.repeat(blank, 2, axis=0)})[0]
    np.testing.assert_allclose(proba[0], dense[0], atol=1e-6)


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


def _lit(images: np.ndarray) -> list[tuple[int, int] | None]:
    """Where the one lit pixel of each image is, or None if it was shifted out."""
    return [divmod(int(i[0]), 28) if i.size else None for i in map(np.flatnonzero, images)]


def test_shift_moves_pixels_by_every_offset_up_to_the_limit():
    image = np.zeros((60, 784), dtype=np.float32)
    image[:, 14 * 28 + 14] = 1.0  # the centre: no shift can push it out
    shifted = training._shifted(image, 1, np.random.default_rng(0))
    offsets = {(r - 14, c - 14) for r, c in _lit(shifted)}
    assert offsets == {(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1)}
    assert shifted.sum(axis=1).tolist() == [1.0] * 60  # moved, never duplicated or dimmed


def test_shift_drops_pixels_at_the_edge_instead_of_wrapping():
    image = np.zeros((60, 784), dtype=np.float32)
    image[:, 0] = 1.0  # top-left corner
    where = _lit(training._shifted(image, 1, np.random.default_rng(0)))
    kept = {w for w in where if w is not None}
    # Shifts up or left push it out (gone, not wrapped to row or column 27); the others move it.
    assert kept == {(0, 0), (0, 1), (1, 0), (1, 1)}
    assert where.count(None) > 0
