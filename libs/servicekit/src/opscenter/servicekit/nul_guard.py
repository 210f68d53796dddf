"""Refuses NUL characters in query strings, paths and JSON bodies.

Postgres text cannot hold U+0000, so such input would fail deep in a query and answer 500; no
field of this platform's API has a use for it. The check runs before routing: the answer is a
422 problem naming where the character was, and nothing is changed. Multipart uploads (package
bytes) are not inspected.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from opscenter.servicekit.errors import Problem, field_error, problem_response

MAX_INSPECTED_BODY = 4 * 1024 * 1024


def _nul_problem(where: str) -> Problem:
    return Problem(
        422,
        "nul-character",
        f"The request's {where} contains a NUL character, which no field accepts",
        errors=[field_error(where, "contains a NUL (U+0000) character")],
    )


def _json_has_nul(body: bytes) -> bool:
    """True when a JSON text escapes U+0000 (an odd run of backslashes before "u0000"; an even
    run is an escaped backslash followed by the plain text "u0000")."""
    at = body.find(b"u0000")
    while at != -1:
        slashes = 0
        while at - slashes - 1 >= 0 and body[at - slashes - 1] == 0x5C:
            slashes += 1
        if slashes % 2 == 1:
            return True
        at = body.find(b"u0000", at + 1)
    return False


class RejectNulMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        query: bytes = scope.get("query_string", b"")
        if b"%00" in query or b"\x00" in query or "\x00" in scope.get("path", ""):
            await problem_response(_nul_problem("query" if query else "path"))(scope, receive, send)
            return
        headers = dict(scope.get("headers", ()))
        if not headers.get(b"content-type", b"").startswith(b"application/json"):
            await self.app(scope, receive, send)
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
            if size > MAX_INSPECTED_BODY:
                break
        body = b"".join(chunks)
        if _json_has_nul(body):
            await problem_response(_nul_problem("body"))(scope, receive, send)
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": more}
            return await receive()

        await self.app(scope, replay, send)
