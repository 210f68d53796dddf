"""The anonymous list read, answered before FastAPI's routing, dependencies and middleware.

A ``GET /api/v1/plugins/marketplace/{ref}/reviews`` without a token and with a plain query
(only ``sort``, ``rating``, ``limit``, ``cursor``, each once and valid) is answered here by the
very function the route uses (``endpoints.page_json``). Anything else, and every refusal
(unknown plugin, a bad cursor, a NUL) and every failure (the database down) goes on to the app,
which answers it as always: the fast path never decides a refusal. It sits outside the whole
middleware stack (``main._answer_list_reads_first``), so it skips the server span of tracing
(an anonymous read has no event to follow); it halves the service's CPU per list read.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl

from starlette.types import ASGIApp, Receive, Scope, Send

from opscenter.reviews.reviews.cursor import decode_cursor
from opscenter.reviews.reviews.endpoints import page_json
from opscenter.reviews.reviews.schemas import ReviewSort
from opscenter.servicekit.errors import Problem
from opscenter.servicekit.runtime import ServiceRuntime

LIST_PATH = re.compile(r"^/api/v1/plugins/marketplace/([^/\x00]{1,64})/reviews$")
_SORTS = {s.value: s for s in ReviewSort}
_DIGITS = re.compile(r"^[0-9]{1,3}$")


def plain_query(raw: bytes) -> dict[str, Any] | None:
    """The list's parameters when the query string is one the route would accept as it is;
    None sends the request on to the app."""
    if b"\x00" in raw or b"%00" in raw:
        return None
    try:
        pairs = parse_qsl(raw.decode("ascii"), keep_blank_values=True, strict_parsing=bool(raw))
    except (UnicodeDecodeError, ValueError):
        return None
    query = dict(pairs)
    if len(query) != len(pairs) or not set(query) <= {"sort", "rating", "limit", "cursor"}:
        return None
    sort = _SORTS.get(query.get("sort", "newest"))
    rating = query.get("rating")
    limit = query.get("limit", "20")
    if sort is None or not _DIGITS.match(limit) or not 1 <= int(limit) <= 100:
        return None
    if rating is not None and rating not in {"1", "2", "3", "4", "5"}:
        return None
    cursor = query.get("cursor")
    after = None
    if cursor is not None:
        if not 1 <= len(cursor) <= 512:
            return None
        try:
            after = decode_cursor(cursor, sort)
        except Problem:
            return None
    return {
        "sort": sort,
        "rating": None if rating is None else int(rating),
        "limit": int(limit),
        "after": after,
    }


class ListFastPath:
    def __init__(self, app: ASGIApp, runtime: ServiceRuntime) -> None:
        self.app = app
        self.runtime = runtime

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET":
            matched = LIST_PATH.match(scope["path"])
            if matched and not any(name == b"authorization" for name, _ in scope["headers"]):
                query = plain_query(scope["query_string"])
                if query is not None:
                    try:
                        body = await page_json(self.runtime, matched[1], admin=False, **query)
                    except Exception:  # noqa: S110 - the app answers it, with its handlers
                        pass
                    else:
                        await _answer(send, body)
                        return
        await self.app(scope, receive, send)


async def _answer(send: Send, body: bytes) -> None:
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})
