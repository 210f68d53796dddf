"""End-to-end tests drive the whole suite through the nginx gateway, as users would.

The `suite` fixture brings up the `test` instance of the suite (Postgres, Kafka, every service's
API, worker and relay, the gateway) with `deploy/local/suite.py`, which is quick when it is
already running.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import AsyncIterator

import httpx
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


@pytest.fixture
async def gateway(gateway_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=gateway_url, timeout=30) as client:
        yield client
