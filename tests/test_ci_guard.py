"""The CI guard: with CI=true a skipped test turns a green run red; without, it stays a skip."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.conftest import ROOT

SKIPPING = (
    'import pytest\n\ndef test_ok():\n    pass\n\ndef test_skips():\n    pytest.skip("no X")\n'
)


def run_pytest(tmp_path, ci: str | None) -> subprocess.CompletedProcess:
    (tmp_path / "test_sample.py").write_text(SKIPPING)
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    if ci is not None:
        env["CI"] = ci
    env["PYTHONPATH"] = str(ROOT)
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "tests.ci_guard",
            "-p",
            "no:cacheprovider",
            "-q",
            "--rootdir",
            str(tmp_path),
            str(tmp_path / "test_sample.py"),
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=120,
    )


def test_a_skip_fails_the_run_in_ci(tmp_path):
    result = run_pytest(tmp_path, "true")
    assert result.returncode == 1, result.stdout
    assert "test_sample.py::test_skips: Skipped: no X" in result.stdout


def test_a_skip_is_only_a_skip_outside_ci(tmp_path):
    result = run_pytest(tmp_path, None)
    assert result.returncode == 0, result.stdout
    assert "1 passed, 1 skipped" in result.stdout
