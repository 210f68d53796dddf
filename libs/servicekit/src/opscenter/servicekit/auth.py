"""Bearer-token authentication and role checks.

HS256 with a shared secret locally; RS256 with a PEM public key or a JWKS URL in production. A
missing or invalid token answers 401; a valid token without the role answers 403. Ownership
checks (another tenant's or publisher's object) answer 404 in the services.

Claims are checked for type before anything uses them (`CLAIM_RULES`, also published in every
OpenAPI document's ``bearerAuth`` description); a token breaking any rule answers 401, so no claim
ever reaches a query as something other than a short identifier:

- ``sub`` (required), ``tenant_id`` and ``publisher_id`` (optional): strings of 1 to 128
  characters matching ``^[A-Za-z0-9][A-Za-z0-9._:@|+-]{0,127}$`` (UUIDs, ``tenant-17``,
  ``auth0|abc123``); a number, list or object is refused, never stringified.
- ``roles`` (optional): a list of at most 32 strings; member, tenant_admin, developer and
  platform_admin grant access, other names (another system's roles) are ignored, and any item
  that is not such a string refuses the token.
- ``exp`` (required), ``iat`` and ``nbf``: numbers (JSON numbers, not strings or booleans).
- ``aud`` and ``iss``: checked when ``jwt_audience`` / ``jwt_issuer`` are set, which production
  settings require.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable, Iterator
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


CLAIM_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:@|+-]{0,127}$"
_CLAIM_ID = re.compile(CLAIM_ID_PATTERN)
_ROLE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:@|+/-]{0,63}$")
MAX_ROLES = 32

CLAIM_RULES = (
    "JWT bearer token. Claims: `sub` (required), `tenant_id` and `publisher_id` (optional) are "
    f"strings matching `{CLAIM_ID_PATTERN}` (1-128 characters); `roles` is a list of at most "
    f"{MAX_ROLES} role names (member, tenant_admin, developer, platform_admin; others are "
    "ignored); `exp` (required), `iat` and `nbf` are numbers; `aud` and `iss` are checked when "
    "the service is configured with them. A token breaking any rule answers 401."
)


def _refused(reason: str) -> Problem:
    return Problem(
        401,
        "invalid-token",
        f"The bearer token is not valid: {reason}",
        headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
    )


def _identifier(claims: dict[str, Any], name: str, *, required: bool) -> str | None:
    value = claims.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not _CLAIM_ID.match(value):
        raise _refused(f"the {name} claim must be a string matching {CLAIM_ID_PATTERN}")
    return value


def _role_names(claims: dict[str, Any]) -> list[str]:
    roles = claims.get("roles")
    if roles is None:
        return []
    if not isinstance(roles, list) or len(roles) > MAX_ROLES:
        raise _refused(f"the roles claim must be a list of at most {MAX_ROLES} role names")
    for role in roles:
        if not isinstance(role, str) or not _ROLE_NAME.match(role):
            raise _refused("each item of the roles claim must be a role name (a short string)")
    return roles


def _check_times(claims: dict[str, Any]) -> None:
    for name in ("exp", "iat", "nbf"):
        value = claims.get(name)
        if name in claims and (isinstance(value, bool) or not isinstance(value, int | float)):
            raise _refused(f"the {name} claim must be a number")


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
            raise _refused(str(exc)) from exc
        except (ValueError, TypeError, OverflowError) as exc:
            # A header or key PyJWT could not even read (a malformed JWKS answer, say).
            raise _refused("it could not be read") from exc
        if not isinstance(claims, dict):
            raise _refused("its payload must be a JSON object")
        _check_times(claims)
        subject = _identifier(claims, "sub", required=True)
        assert subject is not None
        return Principal(
            subject=subject,
            tenant_id=_identifier(claims, "tenant_id", required=False),
            roles=_expand(_role_names(claims)),
            publisher_id=_identifier(claims, "publisher_id", required=False),
            claims=claims,
        )


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

    check.required_roles = frozenset(wanted)  # type: ignore[attr-defined]
    return check


BEARER_SCHEME = "bearerAuth"


def _calls(dependant: Any) -> Iterator[Any]:
    for dep in dependant.dependencies:
        yield dep.call
        yield from _calls(dep)


def _flat_routes(routes: Iterable[Any]) -> Iterator[Any]:
    """Every route with its full path: FastAPI >= 0.160 keeps included routers nested
    (``iter_route_contexts`` flattens them); earlier ones list the routes themselves."""
    try:
        from fastapi.routing import iter_route_contexts
    except ImportError:  # pragma: no cover - older FastAPI
        for route in routes:
            route.original_route = route
            yield route
        return
    yield from iter_route_contexts(list(routes))


def document_auth(openapi: dict[str, Any], routes: Iterable[Any]) -> dict[str, Any]:
    """Makes the OpenAPI document say how each operation authenticates: an operation that needs a
    token declares ``security`` (``bearerAuth``, whose description states the claim rules) and
    lists its 401 and 403; one that reads a token when given lists 401 (a bad token is refused)."""
    schemes = openapi.setdefault("components", {}).setdefault("securitySchemes", {})
    schemes[BEARER_SCHEME] = {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": CLAIM_RULES,
    }
    for route in _flat_routes(routes):
        dependant = getattr(route.original_route, "dependant", None)
        if dependant is None or not getattr(route, "include_in_schema", False):
            continue
        calls = set(_calls(dependant))
        required = current_principal in calls
        if not required and optional_principal not in calls:
            continue
        path_item = openapi.get("paths", {}).get(route.path_format, {})
        for method in route.methods:
            operation = path_item.get(method.lower())
            if operation is None:
                continue
            responses = operation.setdefault("responses", {})
            responses.setdefault("401", {"description": "The bearer token is missing or invalid"})
            if required:
                operation["security"] = [{BEARER_SCHEME: []}]
                responses.setdefault(
                    "403", {"description": "The token lacks the role or tenant this needs"}
                )
            else:
                # OpenAPI's "optional": no token, or a valid one.
                operation["security"] = [{}, {BEARER_SCHEME: []}]
    return openapi


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
