"""Bearer-token authentication and role checks.

Claims: `sub`, `tenant_id`, `roles` (member, tenant_admin, developer, platform_admin) and, for
developers, `publisher_id`. HS256 with a shared secret locally; RS256 with a PEM public key or a
JWKS URL in production. A missing or invalid token answers 401; a valid token without the role
answers 403. Ownership checks (another tenant's or publisher's object) answer 404 in the services.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Annotated, Any

import jwt
from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool

from opscenter.servicekit.errors import Problem
from opscenter.servicekit.settings import ServiceSettings


class Role(StrEnum):
    MEMBER = "member"
    TENANT_ADMIN = "tenant_admin"
    DEVELOPER = "developer"
    PLATFORM_ADMIN = "platform_admin"


# A tenant admin is also a member; platform admins are not implicitly tenant members.
_IMPLIED: dict[Role, set[Role]] = {Role.TENANT_ADMIN: {Role.MEMBER}}


@dataclass(frozen=True)
class Principal:
    subject: str
    tenant_id: str | None
    roles: frozenset[Role]
    publisher_id: str | None = None
    claims: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def has(self, role: Role) -> bool:
        return role in self.roles

    def require_tenant(self) -> str:
        if not self.tenant_id:
            raise Problem(403, "tenant-required", "This action needs a token with a tenant_id")
        return self.tenant_id

    def require_publisher(self) -> str:
        if not self.publisher_id:
            raise Problem(403, "publisher-required", "This action needs a developer's publisher_id")
        return self.publisher_id


def _expand(roles: Iterable[str]) -> frozenset[Role]:
    known: set[Role] = set()
    for name in roles:
        try:
            role = Role(name)
        except ValueError:
            continue  # roles of other systems are ignored, never an error
        known.add(role)
        known |= _IMPLIED.get(role, set())
    return frozenset(known)


class TokenVerifier:
    def __init__(self, settings: ServiceSettings) -> None:
        self.algorithm = settings.jwt_algorithm
        self.audience = settings.jwt_audience
        self.issuer = settings.jwt_issuer
        self._jwks = jwt.PyJWKClient(settings.jwt_jwks_url) if settings.jwt_jwks_url else None
        if self.algorithm.startswith("HS"):
            self._key: Any = settings.jwt_secret.get_secret_value()
        else:
            self._key = settings.jwt_public_key

    async def verify_async(self, token: str) -> Principal:
        """`verify` without blocking the event loop: a JWKS lookup may fetch keys over HTTP, so
        it runs in a thread; a configured key verifies in microseconds, inline."""
        if self._jwks is not None:
            return await run_in_threadpool(self.verify, token)
        return self.verify(token)

    def verify(self, token: str) -> Principal:
        try:
            key = self._jwks.get_signing_key_from_jwt(token).key if self._jwks else self._key
            claims = jwt.decode(
                token,
                key,
                algorithms=[self.algorithm],
                audience=self.audience,
                issuer=self.issuer,
                options={"require": ["sub", "exp"], "verify_aud": self.audience is not None},
            )
        except jwt.PyJWTError as exc:
            raise Problem(
                401,
                "invalid-token",
                f"The bearer token is not valid: {exc}",
                headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
            ) from exc
        roles = claims.get("roles") or []
        if not isinstance(roles, list):
            raise Problem(401, "invalid-token", "The token's roles claim must be a list")
        return Principal(
            subject=str(claims["sub"]),
            tenant_id=_opt_str(claims.get("tenant_id")),
            roles=_expand(str(r) for r in roles),
            publisher_id=_opt_str(claims.get("publisher_id")),
            claims=claims,
        )


def _opt_str(value: Any) -> str | None:
    return None if value in (None, "") else str(value)


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise Problem(401, "invalid-token", "Authorization must be 'Bearer <token>'")
    return token.strip()


def _verifier(request: Request) -> TokenVerifier:
    verifier: TokenVerifier = request.app.state.token_verifier
    return verifier


# The dependencies are coroutines so FastAPI runs them on the event loop: a plain `def` costs a
# worker-thread hop per request (and waits for one of anyio's 40 threads under load).
async def optional_principal(request: Request) -> Principal | None:
    token = _bearer(request)
    return await _verifier(request).verify_async(token) if token else None


async def current_principal(request: Request) -> Principal:
    token = _bearer(request)
    if token is None:
        raise Problem(
            401,
            "unauthenticated",
            "This action needs a bearer token",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return await _verifier(request).verify_async(token)


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]
OptionalPrincipal = Annotated[Principal | None, Depends(optional_principal)]


def require_roles(*roles: Role) -> Callable[[Principal], Awaitable[Principal]]:
    """A dependency that admits a principal holding any of `roles`."""
    wanted = set(roles)

    async def check(principal: CurrentPrincipal) -> Principal:
        if not wanted & principal.roles:
            names = ", ".join(sorted(r.value for r in wanted))
            raise Problem(403, "forbidden", f"This action needs one of the roles: {names}")
        return principal

    return check


def mint_dev_token(
    settings: ServiceSettings,
    *,
    sub: str | None = None,
    tenant_id: str | None = None,
    roles: Iterable[str] = ("member",),
    publisher_id: str | None = None,
    ttl_s: int = 3600,
) -> str:
    """An HS256 token for local use and tests; refuses to run with an asymmetric setup."""
    if not settings.jwt_algorithm.startswith("HS"):
        raise RuntimeError("dev tokens are only for HS* (local) setups")
    now = int(time.time())
    claims: dict[str, Any] = {
        "sub": sub or str(uuid.uuid4()),
        "roles": list(roles),
        "iat": now,
        "exp": now + ttl_s,
    }
    if tenant_id:
        claims["tenant_id"] = tenant_id
    if publisher_id:
        claims["publisher_id"] = publisher_id
    if settings.jwt_audience:
        claims["aud"] = settings.jwt_audience
    if settings.jwt_issuer:
        claims["iss"] = settings.jwt_issuer
    return jwt.encode(
        claims, settings.jwt_secret.get_secret_value(), algorithm=settings.jwt_algorithm
    )
