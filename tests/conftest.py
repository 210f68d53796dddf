"""Fixtures shared by the tiers that drive the whole suite (end-to-end and faults).

`gateway_url` brings up the `test` instance of the suite (Postgres, Kafka, every service's
API, worker and relay, hooks' dispatcher, the gateway) with `deploy/local/suite.py`, which is
quick when it is already running, and returns the gateway's base URL.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from opscenter.servicekit.migrations import REPO_ROOT
from opscenter.servicekit.testing import LocalStack

SUITE = REPO_ROOT / "deploy" / "local" / "suite.py"


@pytest.fixture(scope="session")
def gateway_url(local_stack: LocalStack) -> str:
    suite = [sys.executable, str(SUITE)]
    subprocess.run([*suite, "up", "--instance", local_stack.instance], check=True)
    out = subprocess.run(
        [*suite, "url", "--instance", local_stack.instance],
        check=True,
        capture_output=True,
        text=True,
    )
    return out.stdout.strip()
