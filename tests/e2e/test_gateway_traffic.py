"""The gateway's traffic rules: every answer carries a request id that the gateway's access log
and the service's own log lines carry too, and a client above its request rate gets 429
problems with Retry-After while another client is served meanwhile."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from pathlib import Path

import httpx
import pytest

from opscenter.servicekit.migrations import REPO_ROOT
from opscenter.servicekit.testing import LocalStack, bearer

pytestmark = pytest.mark.integration


def _lines_with(path: Path, needle: str, timeout_s: float = 10) -> list[dict]:
    """The JSON log lines of ``path`` that mention ``needle`` (logs are flushed per line, but
    the access log is written after the answer: wait a little for it)."""
    deadline = time.monotonic() + timeout_s
    while True:
        found = [
            json.loads(line)
            for line in path.read_text(errors="replace").splitlines()
            if needle in line and line.startswith("{")
        ]
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.2)


async def test_every_answer_has_a_request_id_that_the_logs_carry(
    gateway: httpx.AsyncClient, local_stack: LocalStack
):
    logs = REPO_ROOT / ".local" / local_stack.instance
    # A service's answer, and one the gateway makes itself.
    served = await gateway.get("/api/v1/plugins/marketplace", params={"q": "request-id"})
    refused = await gateway.get("/no-such-path")
    assert (served.status_code, refused.status_code) == (200, 404)
    ids = [served.headers["x-request-id"], refused.headers["x-request-id"]]
    assert all(len(i) == 32 for i in ids)
    assert ids[0] != ids[1]

    access = {line["request_id"]: line for line in _lines_with(logs / "nginx/logs/access.log", "")}
    assert access[ids[0]]["uri"].startswith("/api/v1/plugins/marketplace?q=request-id")
    assert access[ids[1]]["status"] == 404
    # A service logs with the gateway's id: the fault route's error line (test instance only).
    failed = await gateway.get("/api/v1/catalog/_fault/500")
    assert failed.status_code == 500
    request_id = failed.headers["x-request-id"]
    assert failed.json()["correlation_id"] == request_id
    service_lines = _lines_with(logs / "logs/catalog-api.log", request_id)
    assert service_lines, "the catalog's log has no line with the gateway's request id"
    assert all(line["request_id"] == request_id for line in service_lines)


async def test_a_client_above_its_rate_gets_429_problems_and_others_are_served(
    gateway: httpx.AsyncClient, gateway_url: str
):
    greedy = bearer(sub=f"greedy-{uuid.uuid4().hex[:8]}", roles=["member"], tenant_id="t-rate")
    calm = bearer(sub=f"calm-{uuid.uuid4().hex[:8]}", roles=["member"], tenant_id="t-rate")
    path = "/api/v1/hooks/events"

    # One wave of 500 requests, each on its own connection, so they arrive within about a
    # second: at 100 a second with bursts of 200 (the suite's default), many are over.
    limits = httpx.Limits(max_connections=500, max_keepalive_connections=0)
    async with httpx.AsyncClient(base_url=gateway_url, timeout=120, limits=limits) as wave:
        answers = await asyncio.gather(*(wave.get(path, headers=greedy) for _ in range(500)))
    codes = [a.status_code for a in answers]
    assert set(codes) <= {200, 429}, set(codes)
    assert codes.count(429) > 0, "500 requests at once stayed within the rate"
    assert codes.count(200) >= 200  # the burst allowance is served
    limited = next(a for a in answers if a.status_code == 429)
    assert limited.headers["content-type"] == "application/problem+json"
    assert limited.headers["retry-after"] == "1"
    assert limited.json()["type"].endswith("/too-many-requests")

    other = await gateway.get(path, headers=calm)
    assert other.status_code == 200
    await asyncio.sleep(2)  # the rate refills: the greedy client is served again
    assert (await gateway.get(path, headers=greedy)).status_code == 200
