"""What the gateway answers itself is problem+json too, and the longest valid request line gets
through to the service that judges it."""

from __future__ import annotations

import httpx
import pytest

pytestmark = pytest.mark.integration


async def test_a_long_but_valid_request_line_reaches_the_service(gateway: httpx.AsyncClient):
    # ~24 KiB: what a 2000-character reason percent-encoded at 12 bytes a character takes.
    r = await gateway.get("/api/v1/plugins/marketplace", params={"q": "x" * 24_000})
    assert r.status_code == 422  # the catalog's own answer: q is longer than 200 characters
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["errors"][0]["field"].endswith("q")


async def test_an_overlong_request_line_is_a_414_problem(gateway: httpx.AsyncClient):
    r = await gateway.get("/api/v1/plugins/marketplace", params={"q": "x" * 40_000})
    assert r.status_code == 414
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["type"].endswith("/uri-too-long")


async def test_unknown_and_internal_gateway_paths_are_404_problems(gateway: httpx.AsyncClient):
    for path in ("/nope", "/_gateway/uri-too-long", "/api/v1/artifacts/sha256/ab"):
        r = await gateway.get(path)
        assert r.status_code == 404, path
        assert r.headers["content-type"] == "application/problem+json", path
