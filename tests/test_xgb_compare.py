"""`benchmarks/xgb_compare.py` (the README's version-against-version XGBoost cost) runs end to
end on a tiny run; its timings are not judged here."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.conftest import ROOT
from tests.test_data import write_mnist_dir

XGB = ROOT / "models" / "xgboost"


def test_compares_two_versions_against_the_first(tmp_path):
    write_mnist_dir(tmp_path / "mnist", n_train=10, n_test=2048)  # 8 batches of 256
    out = tmp_path / "compare.json"
    result = subprocess.run(
        [
            sys.executable,
            "benchmarks/xgb_compare.py",
            *("--data-dir", str(tmp_path / "mnist"), "--rounds", "2"),
            *("--singles", "5", "--cold", "2", "--out", str(out)),
            str(XGB / "2" / "xgboost.onnx"),
            str(XGB / "3" / "xgboost.onnx"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(out.read_text())
    baseline, other = report["models"]
    assert report["rounds"] == 2 and len(other["per_round"]) == 2
    assert set(baseline["ratio_to_baseline"].values()) == {1.0}
    assert all(v > 0 for v in other["median"].values())
    assert other["onnx_bytes"] == (XGB / "3" / "xgboost.onnx").stat().st_size
    assert out.with_suffix(".png").read_bytes()[:4] == b"\x89PNG"
