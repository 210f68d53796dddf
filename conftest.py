"""Root pytest configuration shared by every test tier."""

from __future__ import annotations

import pytest

pytest_plugins = ["opscenter.servicekit.testing"]


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """A skipped test checks nothing: the run fails if any test skipped."""
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = reporter.stats.get("skipped", []) if reporter else []
    if skipped and exitstatus == 0:
        reporter.write_line(f"FAILED: {len(skipped)} test(s) skipped; start what they need instead")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
