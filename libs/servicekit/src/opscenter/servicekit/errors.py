"""Problem details (RFC 9457) for every error a service answers.

Every 4xx/5xx body is `application/problem+json` with a stable `type`, a human `title` and
`detail`, the `status`, and for validation failures `errors[]` naming each offending field.
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from typing import Any

import asyncpg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import Scope

from opscenter.contracts.errors import error_message

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"
PROBLEM_BASE = "https://opscenter.dev/problems/"

_TITLES = {
    400: "Bad request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    410: "Gone",
    413: "Payload too large",
    415: "Unsupported media type",
    422: "Unprocessable content",
    429: "Too many requests",
    500: "Internal server error",
    503: "Service unavailable",
}


class Problem(Exception):
    """Raise from endpoints or services; rendered as problem+json.

    `kind` becomes the problem `type` (a stable slug such as "slug-taken").
    """

    def __init__(
        self,
        status: int,
        kind: str,
        detail: str,
        *,
        errors: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.kind = kind
        self.detail = detail
        self.errors = errors or []
        self.headers = headers
        self.extra = extra

    def body(self, instance: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": PROBLEM_BASE + self.kind,
            "title": _TITLES.get(self.status, "Error"),
            "status": self.status,
            "detail": self.detail,
        }
        if instance:
            body["instance"] = instance
        if self.errors:
            body["errors"] = self.errors
        body.update(self.extra)
        return body


def field_error(loc: str, message: str) -> dict[str, str]:
    return {"field": loc, "message": message}


def not_found(what: str) -> Problem:
    """The same answer whether the object is missing or belongs to someone else."""
    return Problem(404, "not-found", f"{what} was not found")


class ProblemJSONResponse(JSONResponse):
    """A problem body always renders: text that UTF-8 cannot encode (a lone surrogate echoed back
    from the request) is written as its JSON escape instead of failing the answer."""

    def render(self, content: Any) -> bytes:
        return json.dumps(
            content, ensure_ascii=False, allow_nan=False, indent=None, separators=(",", ":")
        ).encode("utf-8", "backslashreplace")


def problem_response(problem: Problem, request: Request | None = None) -> JSONResponse:
    return ProblemJSONResponse(
        problem.body(request.url.path if request else None),
        status_code=problem.status,
        media_type=PROBLEM_JSON,
        headers=problem.headers,
    )


_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,128}$")
CORRELATION_SCOPE_KEY = "opscenter.correlation_id"


def correlation_id(scope: Scope) -> str:
    """The request's correlation id, the same every time it is asked for one request."""
    known = scope.get(CORRELATION_SCOPE_KEY)
    if isinstance(known, str):
        return known
    for name, value in scope.get("headers", ()):
        if name == b"x-request-id":
            text = value.decode("latin-1")
            if _REQUEST_ID.match(text):
                scope[CORRELATION_SCOPE_KEY] = text
                return text
    made = uuid.uuid4().hex
    scope[CORRELATION_SCOPE_KEY] = made
    return made


def internal_error(scope: Scope) -> Problem:
    """The one answer to an unexpected error: nothing about it but the id to quote."""
    cid = correlation_id(scope)
    return Problem(
        500,
        "internal-error",
        f"An unexpected error occurred; it has been logged with correlation id {cid}.",
        headers={"X-Request-ID": cid},
        correlation_id=cid,
    )


#: Seconds a caller is asked to wait when the database has no connection for it.
UNAVAILABLE_RETRY_AFTER_S = 2
#: SQLSTATEs meaning "no connection for you now", not "your request is wrong": too many
#: connections (53300), the server starting up or shutting down (57P03).
_NO_CONNECTION_STATES = frozenset({"53300", "57P03"})


def _no_connection(exc: BaseException) -> bool:
    """Whether ``exc`` (or what it wraps) says the database had no connection to give: the
    pool's checkout timed out (every connection busy for ``db_pool_timeout_s``), or Postgres
    refused a new connection."""
    seen: BaseException | None = exc
    for _ in range(5):  # SQLAlchemy's error -> its adapted DBAPI error -> asyncpg's
        if seen is None:
            return False
        if isinstance(seen, PoolTimeoutError | asyncpg.TooManyConnectionsError):
            return True
        if getattr(seen, "sqlstate", None) in _NO_CONNECTION_STATES:
            return True
        seen = seen.orig if isinstance(seen, DBAPIError) else seen.__cause__
    return False


def unexpected_problem(exc: BaseException, scope: Scope) -> Problem:
    """The one answer to an error no endpoint handled: 503 with ``Retry-After`` when the
    database had no connection to give (an overload that passes, not a bug; nothing was
    changed), otherwise 500 with the correlation id to quote."""
    if _no_connection(exc):
        cid = correlation_id(scope)
        return Problem(
            503,
            "database-unavailable",
            "The service has no database connection free right now; nothing was changed. "
            f"Retry in {UNAVAILABLE_RETRY_AFTER_S} s.",
            headers={"Retry-After": str(UNAVAILABLE_RETRY_AFTER_S), "X-Request-ID": cid},
            retry_after=UNAVAILABLE_RETRY_AFTER_S,
            correlation_id=cid,
        )
    return internal_error(scope)


def _loc(parts: tuple[Any, ...] | list[Any]) -> str:
    return ".".join(str(p) for p in parts)


PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "RFC 9457 problem details",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["field", "message"],
                "properties": {"field": {"type": "string"}, "message": {"type": "string"}},
            },
        },
    },
    "additionalProperties": True,
}


def problem_responses(described: dict[int, str]) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` entries for an operation's refusals; `document_problems` gives each
    its problem+json content."""
    return {status: {"description": text} for status, text in described.items()}


def document_problems(openapi: dict[str, Any]) -> dict[str, Any]:
    """Makes the OpenAPI document say what the service answers on errors: every 4xx/5xx is
    problem+json (FastAPI would document 422 as its own JSON shape), an operation with a body
    may answer 400 when the body is not parseable, any may answer 429 from the gateway's rate
    limit and 503 with ``Retry-After`` when the database has no connection free
    (``unexpected_problem``)."""
    openapi.setdefault("components", {}).setdefault("schemas", {})["Problem"] = PROBLEM_SCHEMA
    problem = {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}}
    for path_item in openapi.get("paths", {}).values():
        for operation in path_item.values():
            responses = operation.setdefault("responses", {})
            if "requestBody" in operation:
                responses.setdefault("400", {"description": "The body could not be parsed"})
            responses.setdefault("422", {"description": "Invalid input; errors[] names each field"})
            # The gateway limits each client's rate on every path (deploy/local/nginx.conf).
            responses.setdefault(
                "429",
                {"description": "Too many requests from this client; Retry-After says when"},
            )
            responses.setdefault(
                "503",
                {"description": "No database connection free; Retry-After says when to retry"},
            )
            for code, response in responses.items():
                if str(code)[0] in "45":
                    response["content"] = problem
    return openapi


_METHODS = ("get", "put", "post", "delete", "patch", "options", "head")


def allowed_methods(app: FastAPI, path: str) -> str:
    """The ``Allow`` header for ``path``: every method its document lists for it (Starlette's own
    names only the first route that matched the path, when two routes share it)."""
    table = getattr(app.state, "allowed_methods_table", None)
    if table is None:
        table = []
        for template, item in app.openapi().get("paths", {}).items():
            parts = re.split(r"(\{[^}]+\})", template)
            pattern = "".join("[^/]+" if p.startswith("{") else re.escape(p) for p in parts)
            methods = {m.upper() for m in item if m in _METHODS}
            if "GET" in methods:
                methods.add("HEAD")
            table.append((re.compile(f"^{pattern}$"), methods))
        app.state.allowed_methods_table = table
    found: set[str] = set()
    for regex, methods in table:
        if regex.match(path):
            found |= methods
    return ", ".join(sorted(found))


def install_problem_handlers(app: FastAPI) -> None:
    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem) -> JSONResponse:
        return problem_response(exc, request)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [field_error(_loc(err["loc"]), error_message(err)) for err in exc.errors()]
        detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
        return problem_response(
            Problem(422, "validation-error", f"The request is invalid: {detail}", errors=errors),
            request,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        kind = {404: "not-found", 405: "method-not-allowed"}.get(exc.status_code, "http-error")
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            allowed = allowed_methods(app, request.url.path)
            if allowed:
                headers["Allow"] = allowed
        return problem_response(
            Problem(exc.status_code, kind, str(exc.detail), headers=headers), request
        )

    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        problem = unexpected_problem(exc, request.scope)
        extra = {"path": request.url.path, "correlation_id": problem.extra["correlation_id"]}
        if problem.status == 503:
            log.warning("no database connection: %s", exc, extra=extra)
        else:
            log.exception("unhandled error", extra=extra)
        return problem_response(problem, request)

    # The database's errors are answered where the endpoint raised them (Starlette's error
    # middleware would answer and then re-raise); anything else unexpected the same way last.
    app.add_exception_handler(PoolTimeoutError, _unexpected)
    app.add_exception_handler(DBAPIError, _unexpected)
    app.add_exception_handler(asyncpg.PostgresError, _unexpected)
    app.add_exception_handler(Exception, _unexpected)
