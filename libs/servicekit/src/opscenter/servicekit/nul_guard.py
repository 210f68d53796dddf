"""The edge guard: text Postgres cannot store, and JSON too big or too deep, never reach a service.

Postgres text cannot hold U+0000, and UTF-8 cannot encode a lone surrogate (U+D800..U+DFFF
without its pair), so either would fail deep in a query or an encoder and answer 500; no field of
this platform's API has a use for them. The guard runs before routing, once for every service:

- query strings and paths with NUL answer 422 naming the parameter;
- a JSON body (no content type, which FastAPI parses as JSON, or ``application/json`` or any
  ``application/*+json``, in any letter case) must be UTF-8 (no 0x00 byte: UTF-16/32 JSON would
  hide escapes from the scan), at most ``max_body_bytes`` (413) and ``max_depth`` arrays/objects
  deep (422), and no string or key of it may hold NUL or a lone surrogate (422 naming the field
  as ``body.<path>``).

The common body costs two ``bytes.count`` calls and one regex search; the body is parsed here only
when that search finds an escape that may be NUL or a surrogate. Nothing is changed by a refused
request. Multipart forms and other text (cursors, tokens, plugin.yaml) use `text_problem` /
`find_bad_text` where they are decoded.
"""

from __future__ import annotations

import json
import re
from urllib.parse import parse_qsl

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from opscenter.contracts.text import NUL_REASON, bad_text_reason, find_bad_text
from opscenter.servicekit.errors import Problem, field_error, problem_response

__all__ = [
    "GuardRequestText",
    "RejectNulMiddleware",
    "bad_text_reason",
    "check_text",
    "find_bad_text",
    "is_json_media_type",
    "json_depth",
    "text_problem",
]

MAX_INSPECTED_BODY = 4 * 1024 * 1024  # kept for callers of the earlier name
MAX_JSON_BODY_BYTES = 1024 * 1024
MAX_JSON_DEPTH = 32

# An escape that may decode to NUL or to a (perhaps lone) surrogate; backslash parity is decided
# by the parse that follows a hit, so an escaped backslash before "u0000" costs a parse, no more.
_SUSPECT_ESCAPE = re.compile(rb"\\u(?:0000|[dD][89a-fA-F][0-9a-fA-F]{2})")
# A JSON string (unrolled: one regex step per run of plain characters, not per character).
_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_OPENERS = frozenset(b"[{")


def text_problem(where: str, reason: str) -> Problem:
    """422 naming ``where``; the type is ``nul-character`` or ``lone-surrogate``."""
    return Problem(
        422,
        "nul-character" if reason == NUL_REASON else "lone-surrogate",
        f"{where} {reason}; no field accepts it",
        errors=[field_error(where, reason)],
    )


def check_text(where: str, value: str) -> str:
    """``value`` itself, or a 422 naming ``where`` when Postgres could not store it."""
    reason = bad_text_reason(value)
    if reason is not None:
        raise text_problem(where, reason)
    return value


def json_depth(body: bytes) -> int:
    """How deeply arrays and objects nest in a JSON text (brackets inside strings not counted)."""
    brackets = _JSON_STRING.sub(b"", body).translate(None, _NOT_BRACKETS)
    depth = deepest = 0
    for mark in brackets:
        if mark in _OPENERS:
            depth += 1
            if depth > deepest:
                deepest = depth
        else:
            depth -= 1
    return deepest


def is_json_media_type(content_type: bytes | None) -> bool:
    """What FastAPI parses as JSON: no content type, ``application/json`` or
    ``application/<anything>+json``, whatever the letter case and parameters."""
    if not content_type:
        return True
    media = content_type.split(b";", 1)[0].strip().lower()
    return media == b"application/json" or (
        media.startswith(b"application/") and media.endswith(b"+json")
    )


def _query_field(query: bytes) -> str:
    for name, value in parse_qsl(query.decode("latin-1"), keep_blank_values=True):
        if "\x00" in name or "\x00" in value:
            return f"query.{name.replace(chr(0), '')}"
    return "query"


def _body_problem(body: bytes, max_depth: int) -> Problem | None:
    if b"\x00" in body:
        return Problem(
            422,
            "nul-character",
            "The JSON body must be UTF-8 text without NUL bytes",
            errors=[field_error("body", "is not UTF-8 JSON (it holds a 0x00 byte)")],
        )
    if body.count(b"[") + body.count(b"{") > max_depth and json_depth(body) > max_depth:
        return Problem(
            422,
            "too-deep",
            f"The JSON body nests arrays and objects more than {max_depth} deep",
            errors=[field_error("body", f"nests more than {max_depth} levels deep")],
            max_depth=max_depth,
        )
    if _SUSPECT_ESCAPE.search(body) is None:
        return None
    try:
        found = find_bad_text(json.loads(body), "body")
    except (ValueError, RecursionError):
        return None  # not JSON: the app's own parser answers for it
    return None if found is None else text_problem(*found)


def _too_large(limit: int) -> Problem:
    return Problem(
        413,
        "body-too-large",
        f"The JSON body is larger than {limit} bytes",
        errors=[field_error("body", f"larger than {limit} bytes")],
        max_bytes=limit,
    )


class RejectNulMiddleware:
    """The guard described in the module docstring (its first task gave it its name)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_body_bytes: int = MAX_JSON_BODY_BYTES,
        max_depth: int = MAX_JSON_DEPTH,
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.max_depth = max_depth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        query: bytes = scope.get("query_string", b"")
        if b"%00" in query or b"\x00" in query or "\x00" in scope.get("path", ""):
            where = _query_field(query) if b"%00" in query or b"\x00" in query else "path"
            problem = text_problem(where, NUL_REASON)
            await problem_response(problem)(scope, receive, send)
            return
        headers = dict(scope.get("headers", ()))
        if scope.get("method") in ("GET", "HEAD", "OPTIONS", "DELETE") and not headers.get(
            b"content-length", headers.get(b"transfer-encoding")
        ):
            await self.app(scope, receive, send)
            return
        if not is_json_media_type(headers.get(b"content-type")):
            await self.app(scope, receive, send)
            return
        declared = headers.get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.max_body_bytes:
            await problem_response(_too_large(self.max_body_bytes))(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                await self.app(scope, receive, send)  # the client went away; let the app see it
                return
            chunk = message.get("body", b"")
            chunks.append(chunk)
            size += len(chunk)
            more = message.get("more_body", False)
            if size > self.max_body_bytes:
                await problem_response(_too_large(self.max_body_bytes))(scope, receive, send)
                return
        body = b"".join(chunks)
        refusal = _body_problem(body, self.max_depth)
        if refusal is not None:
            await problem_response(refusal)(scope, receive, send)
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


#: The guard under the name of what it does now.
GuardRequestText = RejectNulMiddleware
