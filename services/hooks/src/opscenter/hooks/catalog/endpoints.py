"""``GET /hooks/events``: the hook-event catalog (contracts' ``HOOK_EVENTS``)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from opscenter.contracts.hook_events import HOOK_EVENTS

router = APIRouter(prefix="/hooks", tags=["hook events"])


class HookEventRead(BaseModel):
    name: str
    permission: str | None = Field(description="The permission a grant must cover (null: none)")
    description: str
    example: dict[str, Any] = Field(description="An example payload, untrimmed")


class HookEventList(BaseModel):
    items: list[HookEventRead]


_CATALOG = HookEventList(
    items=[HookEventRead(**e.as_catalog_entry()) for e in HOOK_EVENTS.values()]
)


@router.get("/events", response_model=HookEventList, summary="The events a plugin may subscribe to")
async def list_events() -> HookEventList:
    return _CATALOG


class Jwk(BaseModel):
    kty: str
    crv: str
    x: str
    kid: str
    alg: str
    use: str


class Jwks(BaseModel):
    keys: list[Jwk]


@router.get(
    "/jwks.json",
    response_model=Jwks,
    summary="The public keys that verify installation tokens (EdDSA)",
)
async def jwks(request: Request) -> Jwks:
    return Jwks.model_validate(request.app.state.installation_tokens.jwks())
