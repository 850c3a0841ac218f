"""Schemathesis against the live server's own /openapi.json: no 5xx, every response as documented.

Bounded: `MNIST_SERVE_FUZZ_EXAMPLES` cases at most per operation and phase (default 50, about
2,000-2,500 requests in all, well under a minute here). The seed is fixed so a run is
repeatable; set `MNIST_SERVE_FUZZ_SEED` to explore other inputs. Settings and the hooks that
complete schema-valid requests are in `schemathesis.toml` and `tests/fuzz_hooks.py`.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys

from tests.conftest import ROOT

EXAMPLES = int(os.environ.get("MNIST_SERVE_FUZZ_EXAMPLES", "50"))
SEED = int(os.environ.get("MNIST_SERVE_FUZZ_SEED", "20261125"))


def _excerpt(output: str, limit: int = 400) -> str:
    """The report without its multi-megabyte curl lines."""
    return "\n".join(line[:limit] for line in output.splitlines()[-150:])


def test_schemathesis_finds_nothing(server, tmp_path):
    command = [
        sys.executable,
        "-m",
        "schemathesis.cli",
        "--config-file",
        str(ROOT / "schemathesis.toml"),
        "--no-color",
        "run",
        f"{server.url}/openapi.json",
        "--phases",
        "examples,coverage,fuzzing,stateful",
        "--max-examples",
        str(EXAMPLES),
        "--seed",
        str(SEED),
        "--generation-database",
        "none",
        "--request-timeout",
        "10",
        "--report",
        "junit",
        "--report-dir",
        str(tmp_path),
    ]
    result = subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, timeout=600, check=False
    )
    output = result.stdout + result.stderr
    (tmp_path / "schemathesis.log").write_text(output)
    assert result.returncode == 0, _excerpt(output)
    assert "No issues found" in output, _excerpt(output)
    generated = re.search(r"(\d+) generated, (\d+) passed", output)
    assert generated, _excerpt(output)
    total, passed = map(int, generated.groups())
    print(f"schemathesis: {total} cases, {passed} passed, seed {SEED}")
    assert total == passed
    assert total >= 500, f"only {total} cases ran: the fuzzing was not substantive"
    tested = re.search(r"Tested: (\d+)", output)
    operations = re.search(r"Selected: (\d+)/(\d+)", output)
    assert tested and operations and int(tested.group(1)) == int(operations.group(2))
