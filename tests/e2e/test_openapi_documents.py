"""The documents say what the servers do: each service's OpenAPI document, as the gateway serves
it, declares ``bearerAuth`` with the claim rules, and every operation lists its success answer
and the problems it can answer (401 and 403 where a token is needed, 401 where one is read).
That each operation really behaves so is test_api_conformance's job (schemathesis, all checks)."""

from __future__ import annotations

import httpx
import pytest

from opscenter.servicekit.auth import CLAIM_ID_PATTERN

pytestmark = pytest.mark.integration

SERVICES = ["catalog", "installer", "hooks", "analytics", "reviews"]


@pytest.mark.parametrize("service", SERVICES)
async def test_every_operation_documents_its_auth_and_answers(
    gateway: httpx.AsyncClient, service: str
):
    r = await gateway.get(f"/api/v1/{service}/openapi.json")
    assert r.status_code == 200
    doc = r.json()
    scheme = doc["components"]["securitySchemes"]["bearerAuth"]
    assert (scheme["type"], scheme["scheme"], scheme["bearerFormat"]) == ("http", "bearer", "JWT")
    assert CLAIM_ID_PATTERN in scheme["description"]
    for path, item in doc["paths"].items():
        for method, op in item.items():
            where = f"{method.upper()} {path}"
            codes = set(op["responses"])
            assert codes & {"200", "201", "202", "204", "303"}, where
            assert "422" in codes, where
            security = op.get("security")
            if security == [{"bearerAuth": []}]:  # a token is needed
                assert {"401", "403"} <= codes, where
            elif security is not None:  # a token is read when sent
                assert security == [{}, {"bearerAuth": []}], where
                assert "401" in codes, where
            for code, answer in op["responses"].items():
                if code[0] in "45":
                    assert "application/problem+json" in answer["content"], (where, code)


async def test_an_operation_needing_a_token_declares_it_and_a_public_one_does_not(
    gateway: httpx.AsyncClient,
):
    doc = (await gateway.get("/api/v1/catalog/openapi.json")).json()
    assert doc["paths"]["/api/v1/plugins/register"]["post"]["security"] == [{"bearerAuth": []}]
    assert "security" not in doc["paths"]["/api/v1/plugins/marketplace"]["get"]
    package = doc["paths"]["/api/v1/plugins/marketplace/{slug}/versions/{version}/package"]["get"]
    assert package["security"] == [{}, {"bearerAuth": []}]
