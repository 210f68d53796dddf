"""The local suite's development sign-in: a token for any role and tenant, for the web console.

Mounted only when the settings' `dev_sign_in` is on (the local suite turns it on for the
catalog, which the gateway routes `/api/v1/dev/sign-in` to); production settings refuse it, so
a production deployment has no such path. The token is the one `make token` prints
(`mint_dev_token`): HS256 with the local secret.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from opscenter.servicekit.auth import CLAIM_ID_PATTERN, Role, mint_dev_token
from opscenter.servicekit.settings import ServiceSettings

DEV_SIGN_IN_PATH = "/dev/sign-in"


class DevSignInOffer(BaseModel):
    roles: list[Role]


class DevSignIn(BaseModel):
    roles: list[Role] = Field(min_length=1, max_length=4)
    sub: str | None = Field(default=None, pattern=CLAIM_ID_PATTERN)
    tenant_id: str | None = Field(default=None, pattern=CLAIM_ID_PATTERN)
    publisher_id: str | None = Field(default=None, pattern=CLAIM_ID_PATTERN)
    ttl_s: int = Field(default=8 * 3600, ge=60, le=24 * 3600)


class DevToken(BaseModel):
    token: str


def dev_sign_in_router() -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.get(DEV_SIGN_IN_PATH)
    async def offered() -> DevSignInOffer:
        """Answers (rather than 404) only where the development sign-in exists."""
        return DevSignInOffer(roles=list(Role))

    @router.post(DEV_SIGN_IN_PATH)
    async def sign_in(body: DevSignIn, request: Request) -> DevToken:
        settings: ServiceSettings = request.app.state.settings
        token = mint_dev_token(
            settings,
            sub=body.sub,
            tenant_id=body.tenant_id,
            roles=[role.value for role in body.roles],
            publisher_id=body.publisher_id,
            ttl_s=body.ttl_s,
        )
        return DevToken(token=token)

    return router
