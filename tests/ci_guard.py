"""In CI (`CI=true`) a skipped test fails the run: a test that cannot run there is a gap in
what CI checks, not a pass. Loaded by tests/conftest.py; locally, skips stay skips."""

from __future__ import annotations

import os

import pytest

_skipped: list[str] = []


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        _skipped.append(f"{report.nodeid}: {reason}")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if in_ci() and _skipped and exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter) -> None:
    if in_ci() and _skipped:
        terminalreporter.section("skipped in CI (CI=true): each one fails the run", red=True)
        for line in _skipped:
            terminalreporter.line(line, red=True)
