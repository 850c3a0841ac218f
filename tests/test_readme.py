"""The README's quick-start answer is what the server answers (regenerate it with
`benchmarks/update_readme.py` after retraining)."""

from __future__ import annotations

import json
import re

import pytest

from tests.conftest import ROOT

BLOCK = re.compile(
    r"<!-- quickstart-answer:start -->\n```json\n(.*?)\n```\n<!-- quickstart-answer:end -->",
    re.DOTALL,
)


def readme_answer() -> dict:
    match = BLOCK.search((ROOT / "README.md").read_text())
    assert match, "README.md lost its quickstart-answer block"
    return json.loads(match.group(1))


def test_quick_start_answer_is_the_servers(server, example):
    served = server.post("/verify_vector_image", json.dumps(example)).json()
    shown = readme_answer()
    assert set(shown) == set(served)
    for name, answer in served.items():
        assert shown[name]["predicted_number"] == answer["predicted_number"], name
        assert shown[name]["confidence"] == pytest.approx(answer["confidence"], rel=1e-6), name
        assert shown[name]["probabilities"] == pytest.approx(
            answer["probabilities"], rel=1e-5, abs=1e-12
        ), name
