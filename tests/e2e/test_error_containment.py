"""A 500 never costs another caller anything: after a request that fails inside a service, the
next unrelated request through the gateway (a POST, which nginx never retries on a dead upstream
connection) is answered by the service. Before servicekit's ContainErrors the exception reached
uvicorn, which closed the keep-alive connection nginx then handed the next POST: 503 in 8 of 10
tries. The failing route exists only on the test instance (the services' `fault_route`)."""

from __future__ import annotations

import uuid

import httpx
import pytest

from opscenter.servicekit.auth import mint_dev_token
from opscenter.servicekit.settings import ServiceSettings

pytestmark = pytest.mark.integration

# An unrelated write to the same service (so through the same upstream connection pool): the
# catalog's succeeds (201); for the others any answer of the service's own (< 500) shows the
# connection was alive (an installer install with no such plugin, the skeletons' 404s).
WRITES = {
    "catalog": "/api/v1/plugins/register",
    "installer": "/api/v1/plugins/install",
    "hooks": "/api/v1/hooks/events",
    "analytics": "/api/v1/admin/analytics/overview",
    "reviews": "/api/v1/plugins/marketplace/no-such-plugin/reviews",
}


@pytest.mark.parametrize("service", sorted(WRITES))
async def test_a_500_is_one_problem_and_the_next_post_still_succeeds(
    gateway_url: str, service: str
):
    run = uuid.uuid4().hex[:8]
    token = mint_dev_token(
        ServiceSettings(),
        sub=f"dev-{run}",
        tenant_id=f"tenant-{run}",
        roles=["developer", "tenant_admin", "member"],
        publisher_id=f"pub-{run}",
    )
    async with (
        httpx.AsyncClient(base_url=gateway_url, timeout=30) as failing,
        httpx.AsyncClient(base_url=gateway_url, timeout=30) as bystander,
    ):
        for attempt in range(10):
            r = await failing.get(f"/api/v1/{service}/_fault/500")
            assert r.status_code == 500, r.text
            assert r.headers["content-type"] == "application/problem+json"
            body = r.json()
            assert body["type"].endswith("/internal-error")
            assert body["correlation_id"] == r.headers["x-request-id"]
            assert body["correlation_id"] in body["detail"]
            slug = f"contain-{run}-{attempt}"
            w = await bystander.post(
                WRITES[service],
                json={"slug": slug, "name": slug, "type": "backend", "category": "monitoring"}
                if service == "catalog"
                else {"plugin": slug, "rating": 5, "title": "t", "body": "b"},
                headers={"Authorization": f"Bearer {token}", "Idempotency-Key": slug},
            )
            assert w.status_code < 500, (attempt, w.status_code, w.text)
            assert w.headers["content-type"].startswith(("application/json", "application/problem"))
            if service == "catalog":
                assert w.status_code == 201, w.text


async def test_the_fault_route_is_hidden_from_the_documents(gateway: httpx.AsyncClient):
    r = await gateway.get("/api/v1/catalog/openapi.json")
    assert r.status_code == 200
    assert not any("_fault" in path for path in r.json()["paths"])
