"""Every process of the suite runs under supervisord: SIGKILL any of them and it is started
again (a new pid, one more restart counted, RUNNING, nothing of its old process group left), and
every API answers /readyz through the gateway afterwards. Each process is killed with nothing
else down, so the test also shows that no process needs another one's restart to come back."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time

import httpx
import pytest

from opscenter.servicekit.migrations import REPO_ROOT
from opscenter.servicekit.testing import LocalStack

sys.path.insert(0, str(REPO_ROOT / "deploy" / "local"))
from supervision import ProcessState, Supervisor

pytestmark = pytest.mark.integration

SERVICES = ["catalog", "installer", "hooks", "analytics", "reviews"]


def supervisor_of(stack: LocalStack) -> Supervisor:
    root = REPO_ROOT / ".local" / stack.instance
    return Supervisor(root / "supervisor", root / "logs")


async def restarted(supervisor: Supervisor, before: ProcessState, timeout_s: float = 60):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        now = supervisor.states()[before.name]
        if now.state == "RUNNING" and now.pid not in (0, before.pid):
            return now
        await asyncio.sleep(0.2)
    raise AssertionError(f"{before.name} was not restarted: {supervisor.states()[before.name]}")


async def test_each_killed_process_is_restarted(gateway_url: str, local_stack: LocalStack):
    supervisor = supervisor_of(local_stack)
    states = supervisor.states()
    expected = {f"{s}-{r}" for s in SERVICES for r in ("api", "worker", "relay")}
    assert expected | {"hooks-dispatcher", "gateway"} <= set(states)
    for name in sorted(states):
        before = supervisor.states()[name]
        assert before.state == "RUNNING", before
        os.kill(before.pid, signal.SIGKILL)
        after = await restarted(supervisor, before)
        assert after.restarts == before.restarts + 1, (before, after)
        # Nothing of the killed run is left (nginx's workers, uvicorn's, sandboxes): the
        # group the killed leader led is empty.
        with pytest.raises(ProcessLookupError):
            os.killpg(before.pid, 0)
    async with httpx.AsyncClient(base_url=gateway_url, timeout=10) as client:
        for service in SERVICES:
            deadline = time.monotonic() + 60
            while True:
                try:
                    answer = await client.get(f"/api/v1/{service}/readyz")
                    if answer.status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, f"{service} not ready after restarts"
                await asyncio.sleep(0.2)
