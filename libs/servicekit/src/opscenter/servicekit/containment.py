"""No exception escapes a service's app to the HTTP server.

Starlette's outermost middleware renders an unhandled exception as a 500 and then re-raises it;
uvicorn, seeing an exception leave the app, closes the keep-alive connection. The gateway keeps
such connections in its upstream pool and hands the next request (perhaps another caller's POST,
which nginx never retries) to the dead one: that caller gets a 503 for someone else's bug.
`ContainErrors` wraps the whole app, outside Starlette's own error middleware: it answers one
problem+json 500 carrying a correlation id when nothing was sent yet (503 with `Retry-After`
when the database had no connection to give: `errors.unexpected_problem`), logs the error once,
and returns normally, so uvicorn keeps the connection.

The correlation id is the gateway's `X-Request-ID` when the request has a sane one, otherwise a
fresh UUID; it is in the body (`correlation_id`), in the `X-Request-ID` answer header and in the
log line, so an operator finds the traceback from what the caller saw. Every answer carries it in
`X-Request-ID`, and every log line written while the request runs has it as `request_id`.
"""

from __future__ import annotations

import logging

from fastapi import APIRouter
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from opscenter.servicekit.errors import correlation_id, problem_response, unexpected_problem
from opscenter.servicekit.logs import REQUEST_ID

log = logging.getLogger(__name__)


class ContainErrors:
    """Outermost ASGI wrapper: an exception from inside becomes a 500 answer (when the answer has
    not started) and never reaches the server."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False
        cid = correlation_id(scope)
        header = (b"x-request-id", cid.encode())

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = [h for h in message.get("headers", ()) if h[0] != b"x-request-id"]
                message = {**message, "headers": [*headers, header]}
            await send(message)

        token = REQUEST_ID.set(cid)  # every log line of this request carries it
        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:
            # Starlette's error middleware has already logged and answered when `started`.
            if started:
                return
            problem = unexpected_problem(exc, scope)  # 503 when the database had no connection
            extra = {"path": scope.get("path"), "correlation_id": correlation_id(scope)}
            if problem.status == 503:
                log.warning("no database connection: %s", exc, extra=extra)
            else:
                log.exception("unhandled error", extra=extra)
            await problem_response(problem)(scope, receive, send)
        finally:
            REQUEST_ID.reset(token)


FAULT_PATH = "/_fault/500"


def fault_router() -> APIRouter:
    """A route that fails on purpose, for tests that show a 500 costs no other caller anything.
    Only mounted when the settings' `fault_route` is on, which production refuses."""
    router = APIRouter(include_in_schema=False)

    @router.get(FAULT_PATH)
    @router.post(FAULT_PATH)
    async def fail() -> None:
        raise RuntimeError("a fault injected on purpose by the fault route")

    return router
