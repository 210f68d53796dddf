"""What the gateway answers itself is problem+json too (400, 405 for TRACE, 413, 414, 505), as is
what the services' own HTTP server refuses before any app runs, and the longest valid request
line gets through to the service that judges it."""

from __future__ import annotations

import json
import socket

import httpx
import pytest

# The suite's order of services: service i listens on the gateway's port - 80 + 1 + i.
SERVICES = ("catalog", "installer", "hooks", "analytics", "reviews")

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


def _raw(port: int, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """Sends bytes no HTTP client would, and reads the answer until the server closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        conn.sendall(request)
        answer = b""
        while chunk := conn.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines)}
    return int(status_line.split()[1]), headers, body


def _gateway_port(gateway_url: str) -> int:
    return int(gateway_url.rsplit(":", 1)[1].split("/")[0])


@pytest.mark.parametrize(
    ("request_bytes", "status", "kind"),
    [
        (b"GET / HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n", 400, "bad-request"),
        (b"GARBAGE\r\n\r\n", 400, "bad-request"),
        (
            b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 40_000 + b"\r\n\r\n",
            400,
            "header-too-large",
        ),
        (b"TRACE /api/v1/plugins/marketplace HTTP/1.1\r\nHost: x\r\n\r\n", 405, None),
        (b"GET / HTTP/2.5\r\nHost: x\r\n\r\n", 505, "http-version-not-supported"),
        (
            b"POST /api/v1/plugins/register HTTP/1.1\r\nHost: x\r\nContent-Length: 30000000\r\n"
            b"Content-Type: application/json\r\n\r\n{}",
            413,
            "payload-too-large",
        ),
        (
            b"GET /api/v1/plugins/marketplace?q=" + b"x" * 40_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
            414,
            "uri-too-long",
        ),
    ],
)
def test_what_the_gateway_answers_itself_is_a_problem(
    gateway_url: str, request_bytes: bytes, status: int, kind: str | None
):
    got, headers, body = _raw(_gateway_port(gateway_url), request_bytes)
    assert got == status, body
    assert headers["content-type"] == "application/problem+json"
    problem = json.loads(body)
    assert problem["status"] == status
    assert problem["type"].endswith("/" + (kind or "method-not-allowed"))


@pytest.mark.parametrize("service", ["catalog", "installer", "hooks", "analytics", "reviews"])
def test_the_services_own_http_server_answers_a_problem_for_what_it_cannot_parse(
    gateway_url: str, service: str
):
    # Straight to the service's port: what uvicorn refuses before any app runs.
    port = _gateway_port(gateway_url) - 80 + 1 + SERVICES.index(service)
    got, headers, body = _raw(port, b"GET / HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n")
    assert got == 400
    assert headers["content-type"] == "application/problem+json"
    assert json.loads(body)["type"].endswith("/bad-request")


async def test_a_methods_the_gateway_routes_but_the_service_does_not_have_is_a_405_problem(
    gateway: httpx.AsyncClient,
):
    r = await gateway.request("PATCH", "/api/v1/plugins/marketplace")
    assert r.status_code == 405
    assert r.headers["content-type"] == "application/problem+json"
