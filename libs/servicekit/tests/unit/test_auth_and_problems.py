from __future__ import annotations

import time

import httpx
import jwt
import pytest
from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from opscenter.contracts.fields import Text
from opscenter.servicekit.app import create_service_app
from opscenter.servicekit.auth import (
    CurrentPrincipal,
    Principal,
    Role,
    mint_dev_token,
    require_roles,
)
from opscenter.servicekit.errors import Problem
from opscenter.servicekit.settings import ServiceSettings

settings = ServiceSettings(service_name="unit", log_json=False)


class Thing(BaseModel):
    name: str = Field(min_length=3)
    size: int = Field(ge=1)
    note: Text | None = None


def build_app():
    router = APIRouter()

    @router.get("/whoami")
    async def whoami(principal: CurrentPrincipal) -> dict:
        return {"sub": principal.subject, "roles": sorted(principal.roles)}

    @router.post("/admin-only")
    async def admin_only(
        principal: Principal = Depends(require_roles(Role.PLATFORM_ADMIN)),
    ) -> dict:
        return {"ok": True}

    @router.post("/things")
    async def create_thing(thing: Thing) -> Thing:
        return thing

    @router.get("/gone")
    async def gone() -> None:
        raise Problem(410, "banned", "This plugin was banned: malware")

    return create_service_app(settings, title="unit", routers=[router])


@pytest.fixture
async def client():
    transport = httpx.ASGITransport(app=build_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
        yield c


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_valid_token_yields_principal_with_implied_roles(client):
    token = mint_dev_token(settings, sub="u1", tenant_id="t1", roles=["tenant_admin"])
    r = await client.get("/api/v1/whoami", headers=bearer(token))
    assert r.status_code == 200
    assert r.json() == {"sub": "u1", "roles": ["member", "tenant_admin"]}


async def test_missing_token_is_401_problem(client):
    r = await client.get("/api/v1/whoami")
    assert r.status_code == 401
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["type"].endswith("/unauthenticated")


@pytest.mark.parametrize(
    "token",
    [
        jwt.encode(
            {"sub": "u", "exp": int(time.time()) - 10, "roles": []},
            "dev-only-secret-change-me-0123456789abcdef",
        ),
        jwt.encode(
            {"sub": "u", "exp": int(time.time()) + 60, "roles": []},
            "another-secret-another-secret-1234",
        ),
        jwt.encode(
            {"exp": int(time.time()) + 60, "roles": []},
            "dev-only-secret-change-me-0123456789abcdef",
        ),
        "not-a-jwt",
    ],
    ids=["expired", "wrong-key", "no-sub", "garbage"],
)
async def test_invalid_tokens_are_401(client, token):
    r = await client.get("/api/v1/whoami", headers=bearer(token))
    assert r.status_code == 401
    assert r.json()["type"].endswith("/invalid-token")


async def test_none_algorithm_is_refused(client):
    token = jwt.encode(
        {"sub": "u", "exp": int(time.time()) + 60, "roles": ["platform_admin"]},
        None,
        algorithm="none",
    )
    r = await client.post("/api/v1/admin-only", headers=bearer(token))
    assert r.status_code == 401


async def test_role_check_is_403_naming_the_role(client):
    token = mint_dev_token(settings, roles=["member"], tenant_id="t1")
    r = await client.post("/api/v1/admin-only", headers=bearer(token))
    assert r.status_code == 403
    assert "platform_admin" in r.json()["detail"]
    admin = mint_dev_token(settings, roles=["platform_admin"])
    assert (await client.post("/api/v1/admin-only", headers=bearer(admin))).status_code == 200


async def test_validation_error_names_each_field(client):
    r = await client.post("/api/v1/things", json={"name": "x", "size": 0})
    assert r.status_code == 422
    body = r.json()
    assert r.headers["content-type"] == "application/problem+json"
    fields = {e["field"] for e in body["errors"]}
    assert fields == {"body.name", "body.size"}


async def test_messages_read_as_people_write_them(client):
    """No pydantic "Value error, " prefix; a missing field "is required"."""
    r = await client.post("/api/v1/things", json={"size": 1, "note": " "})
    assert r.status_code == 422
    messages = {e["field"]: e["message"] for e in r.json()["errors"]}
    assert messages == {"body.name": "is required", "body.note": "must not be blank"}


async def test_domain_problem_and_unknown_path(client):
    r = await client.get("/api/v1/gone")
    assert r.status_code == 410
    assert r.json()["detail"] == "This plugin was banned: malware"
    r = await client.get("/api/v1/nope")
    assert r.status_code == 404
    assert r.headers["content-type"] == "application/problem+json"


async def test_health_endpoints(client):
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    assert (await client.get("/readyz")).status_code == 200
    metrics = await client.get("/metrics")
    assert metrics.status_code == 200


def test_production_refuses_the_dev_secret():
    with pytest.raises(ValueError, match="jwt_secret"):
        ServiceSettings(environment="production")
    with pytest.raises(ValueError, match="jwks"):
        ServiceSettings(environment="production", jwt_algorithm="RS256")
    with pytest.raises(ValueError, match="jwt_audience and jwt_issuer"):
        ServiceSettings(environment="production", jwt_secret="x" * 40)
    with pytest.raises(ValueError, match="fault_route"):
        ServiceSettings(
            environment="production",
            jwt_secret="x" * 40,
            jwt_audience="ops",
            jwt_issuer="idp",
            fault_route=True,
        )
    ok = ServiceSettings(
        environment="production", jwt_secret="x" * 40, jwt_audience="ops", jwt_issuer="idp"
    )
    assert ok.environment == "production"


async def test_nul_characters_are_refused_before_they_reach_sql(client):
    r = await client.get("/api/v1/gone?q=a%00b")
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "query.q"
    r = await client.post(
        "/api/v1/things",
        content=b'{"name": "ab\\u0000c", "size": 2}',
        headers={"content-type": "application/json"},
    )
    assert r.status_code == 422
    assert r.json()["type"].endswith("/nul-character")
    # An escaped backslash followed by the text "u0000" is no NUL: it passes.
    r = await client.post(
        "/api/v1/things",
        content=b'{"name": "ab\\\\u0000c", "size": 2}',
        headers={"content-type": "application/json"},
    )
    assert r.status_code == 200
    assert r.json()["name"] == "ab\\u0000c"
