"""The development sign-in exists only where the settings turn it on, production refuses it,
and the token it signs is one the services accept with the claims asked for."""

from __future__ import annotations

import httpx
import pytest
from fastapi import APIRouter

from opscenter.servicekit.app import create_service_app
from opscenter.servicekit.auth import Role, TokenVerifier
from opscenter.servicekit.settings import ServiceSettings

PATH = "/api/v1/dev/sign-in"


def client_for(settings: ServiceSettings) -> httpx.AsyncClient:
    app = create_service_app(settings, title="unit", routers=[APIRouter()])
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


async def test_it_is_absent_unless_turned_on():
    async with client_for(ServiceSettings(service_name="unit", log_json=False)) as client:
        assert (await client.get(PATH)).status_code == 404
        r = await client.post(PATH, json={"roles": ["platform_admin"]})
        assert r.status_code == 404
        assert r.headers["content-type"] == "application/problem+json"


def test_production_refuses_it():
    with pytest.raises(ValueError, match="dev_sign_in"):
        ServiceSettings(
            environment="production",
            jwt_secret="x" * 40,
            jwt_audience="ops",
            jwt_issuer="idp",
            dev_sign_in=True,
        )


async def test_it_signs_a_token_with_the_chosen_role_and_tenant():
    settings = ServiceSettings(service_name="unit", log_json=False, dev_sign_in=True)
    async with client_for(settings) as client:
        offer = await client.get(PATH)
        assert offer.status_code == 200
        assert set(offer.json()["roles"]) == {r.value for r in Role}
        r = await client.post(
            PATH, json={"roles": ["tenant_admin"], "tenant_id": "t9", "sub": "alice"}
        )
        assert r.status_code == 200, r.text
    principal = TokenVerifier(settings).verify(r.json()["token"])
    assert (principal.subject, principal.tenant_id) == ("alice", "t9")
    assert principal.has(Role.TENANT_ADMIN)
    assert principal.has(Role.MEMBER)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"roles": ["root"]}, "roles"),
        ({"roles": []}, "roles"),
        ({"roles": ["member"], "tenant_id": "no spaces"}, "tenant_id"),
    ],
)
async def test_bad_requests_are_problems_naming_the_field(body: dict, field: str):
    settings = ServiceSettings(service_name="unit", log_json=False, dev_sign_in=True)
    async with client_for(settings) as client:
        r = await client.post(PATH, json=body)
    assert r.status_code == 422
    assert r.headers["content-type"] == "application/problem+json"
    assert any(field in e["field"] for e in r.json()["errors"]), r.json()
