"""The README's numbers are the results files' numbers, and its sample answer is the server's.

`benchmarks/update_readme.py` writes every measured table and figure of the README from
the served models' `model.json` files and `benchmarks/results/*.json`, between markers. These tests regenerate
all of it and compare, look for measured-looking figures left outside the markers, and ask the
live server the quick-start question.
"""

from __future__ import annotations

import json
import re

from benchmarks import update_readme

from tests.conftest import EXAMPLE, ROOT

README = ROOT / "README.md"
# A figure with a unit of time, memory, rate, ratio or accuracy ("68 us", "1.7x", "36%").
MEASURED = re.compile(
    r"(?<![\w.>=-])\d[\d,]*(?:\.\d+)?(?:-\d[\d,]*(?:\.\d+)?)?"
    r"(?:\s?(?:us|ms|s|MiB|GiB|req/s|points|minutes)\b|x\b|%)"
)
# Thresholds the project sets itself (">= 85% of the floor", "under 10 us", "to pass 98.4%",
# "more than 0.1 points below", "at most 0.05 points lost") are targets, not measurements.
TARGET = re.compile(r"(?:>=|<=|under|below the|within|pass|more than|at most|at least)\s$")


def prose(text: str) -> str:
    """The README without generated text, code, and tables of settings and errors (defaults and
    limits, not measurements)."""
    text = update_readme.SECTION.sub("", text)
    text = update_readme.FIGURE.sub("", text)
    text = re.sub(r"```.*?```", "", text, flags=re.DOTALL)
    text = re.sub(r"`[^`\n]*`", "", text)
    text = re.sub(r"\]\([^)]*\)", "]", text)  # link targets
    return "\n".join(line for line in text.splitlines() if not line.startswith("|"))


def test_generated_tables_and_figures_match_the_results_files():
    text = README.read_text()
    assert update_readme.render(text) == text, "run: python benchmarks/update_readme.py"


def test_every_marker_has_a_renderer():
    text = README.read_text()
    sections = {m.group(2) for m in update_readme.SECTION.finditer(text)}
    figures = {m.group(2) for m in update_readme.FIGURE.finditer(text)}
    assert sections == set(update_readme.SECTIONS)
    assert figures == set(update_readme.FIGURES)


def test_no_measured_figure_outside_the_generated_text():
    text = prose(README.read_text())
    stray = [
        f"{m.group(0)!r} in ...{text[max(0, m.start() - 50) : m.end() + 10]!r}"
        for m in MEASURED.finditer(text)
        if not TARGET.search(text[max(0, m.start() - 12) : m.start()])
    ]
    assert not stray, "figures not generated from a results file:\n" + "\n".join(stray)


def test_the_stray_figure_check_sees_figures():
    """The check above is not vacuous: a hand-written figure in prose is caught."""
    assert MEASURED.search(prose("The MLP takes 68 us, 1.7x the rest, 36% of the floor."))
    assert not MEASURED.search(prose("Generated: <!--f:mlp-single-->44 us<!--/f-->."))


def test_quickstart_answer_is_what_the_server_answers(server):
    match = re.search(
        r"<!-- quickstart-answer:start -->\n```json\n(.*?)```", README.read_text(), re.DOTALL
    )
    assert match, "the quick-start answer section is missing"
    answer = server.post("/verify_vector_image", EXAMPLE.read_bytes())
    assert answer.status_code == 200
    assert json.loads(match.group(1)) == answer.json()
