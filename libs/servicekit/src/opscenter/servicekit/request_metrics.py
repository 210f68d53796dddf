"""Per-request Prometheus metrics and the access log line of every API.

`RequestMetrics` runs inside the request's server span (it is added with `app.add_middleware`,
which the OpenTelemetry middleware wraps) and inside `ContainErrors`, so its log line carries
the trace id, span id and request id. Routes are labelled by their template
(`/api/v1/plugins/{plugin}/enable`), never by the path: a label per slug would grow without
bound. A request no route matched is labelled `unmatched`. Probes and the metrics route
itself are neither counted nor logged.
"""

from __future__ import annotations

import logging
import time

from prometheus_client import Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("opscenter.access")

REQUESTS = Counter(
    "http_requests_total",
    "HTTP requests answered, by route and status",
    ["method", "route", "status"],
)
LATENCY = Histogram(
    "http_request_duration_seconds",
    "Time from the request to the end of its answer, by route",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
UNLOGGED = frozenset({"/healthz", "/readyz", "/metrics"})


class RequestMetrics:
    """``prefix``: what the app's routers are included under (`app.API_PREFIX`); FastAPI's
    matched route knows its path within its router only, so the prefix is put back here."""

    def __init__(self, app: ASGIApp, prefix: str = "") -> None:
        self.app = app
        self.prefix = prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in UNLOGGED:
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the caller gets when the app raises before answering

        async def recording_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, recording_send)
        finally:
            elapsed = time.perf_counter() - started
            route = self._template(scope)
            method = scope["method"]
            REQUESTS.labels(method, route, str(status)).inc()
            LATENCY.labels(method, route).observe(elapsed)
            log.info(
                "%s %s %s",
                method,
                route,
                status,
                extra={
                    "method": method,
                    "route": route,
                    "path": scope["path"],
                    "status": status,
                    "duration_ms": round(elapsed * 1000, 2),
                },
            )

    def _template(self, scope: Scope) -> str:
        route = scope.get("route")
        path = getattr(route, "path", None)
        if path is None:
            return "unmatched"
        concrete: str = scope["path"]
        if self.prefix and concrete.startswith(self.prefix):
            regex = getattr(route, "path_regex", None)
            if regex is not None and regex.match(concrete[len(self.prefix) :]):
                return self.prefix + path
        return str(path)
