"""Every API counts and times its requests by route template and writes one access line for
each, carrying the request id and the request's trace."""

from __future__ import annotations

import json

import httpx
import pytest
from fastapi import APIRouter
from prometheus_client import REGISTRY

from opscenter.servicekit.app import create_service_app
from opscenter.servicekit.settings import ServiceSettings


def count(route: str, status: str, method: str = "GET") -> float:
    labels = {"method": method, "route": route, "status": status}
    return REGISTRY.get_sample_value("http_requests_total", labels) or 0.0


def timed(route: str) -> float:
    labels = {"method": "GET", "route": route}
    return REGISTRY.get_sample_value("http_request_duration_seconds_count", labels) or 0.0


async def test_requests_are_counted_by_template_and_logged_with_their_ids(
    capsys: pytest.CaptureFixture[str],
):
    router = APIRouter(prefix="/gadgets")

    @router.get("/{gadget}/parts")
    async def parts(gadget: str) -> dict[str, str]:
        return {"gadget": gadget}

    app = create_service_app(ServiceSettings(service_name="metered"), title="m", routers=[router])
    template = "/api/v1/gadgets/{gadget}/parts"
    before = (count(template, "200"), timed(template), count("unmatched", "404"))
    probes = count("/healthz", "200")
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        for gadget in ("a", "b"):
            answer = await client.get(
                f"/api/v1/gadgets/{gadget}/parts", headers={"x-request-id": "c" * 32}
            )
            assert answer.status_code == 200
        assert (await client.get("/api/v1/no-such/thing")).status_code == 404
        assert (await client.get("/healthz")).status_code == 200

    assert count(template, "200") == before[0] + 2  # one series for both slugs
    assert timed(template) == before[1] + 2
    assert count("unmatched", "404") == before[2] + 1
    assert count("/healthz", "200") == probes  # probes are neither counted nor logged
    logged = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    lines = [line for line in logged if line["name"] == "opscenter.access"]
    assert [(r["route"], r["status"], r["path"]) for r in lines] == [
        (template, 200, "/api/v1/gadgets/a/parts"),
        (template, 200, "/api/v1/gadgets/b/parts"),
        ("unmatched", 404, "/api/v1/no-such/thing"),
    ]
    assert lines[0]["request_id"] == "c" * 32
    assert len(lines[0]["trace_id"]) == 32
    assert lines[0]["trace_id"] != lines[1]["trace_id"]
