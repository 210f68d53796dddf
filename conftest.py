"""Root pytest configuration shared by every test tier."""

from __future__ import annotations

import os

import pytest
from hypothesis import settings

pytest_plugins = ["opscenter.servicekit.testing"]


# CI explores the same examples on every run, so a landing is never decided by a random draw;
# local runs keep exploring new ones (and remember failures in .hypothesis/).
settings.register_profile("ci", derandomize=True, database=None)
if os.environ.get("CI"):
    settings.load_profile("ci")


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """A skipped test checks nothing: the run fails if any test skipped."""
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = reporter.stats.get("skipped", []) if reporter else []
    if skipped and exitstatus == 0:
        reporter.write_line(f"FAILED: {len(skipped)} test(s) skipped; start what they need instead")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
