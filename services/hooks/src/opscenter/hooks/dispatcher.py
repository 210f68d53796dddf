"""The dispatcher process: leases due deliveries from Postgres and makes their attempts.

Separate from the Kafka consumers, so a slow plugin never holds a poll loop. Three parts run
concurrently: the claimer leases work whenever fewer than ``dispatch_concurrency`` attempts
are in flight; each attempt runs as its own task on one shared HTTP client; the recorder
writes finished attempts in batches (one transaction each). Several dispatchers may run at
once: claims skip each other's locked rows, and a dispatcher that dies leaves leases that
expire after ``lease_s`` and are taken again, so a webhook is sent at least once (receivers
deduplicate by ``webhook-id``, the delivery's id, which never changes). Every attempt carries a
fresh installation token (``tokens.py``): a webhook in the ``x-opscenter-installation-token``
header, a handler in its context.

The two modes differ only in how an attempt is made (``deliveries/webhook.py``,
``deliveries/handler.py``, both ``service.AttemptMode``); leases, retries, records and events
are the same code for both.
Each dispatcher also runs the schedule ticker (``scheduler.py``), which only creates rows.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from datetime import timedelta
from pathlib import Path

from opentelemetry import propagate, trace
from prometheus_client import Counter, Gauge, Histogram

from opscenter.hooks import models
from opscenter.hooks.deliveries import service
from opscenter.hooks.deliveries.handler import HandlerRunner
from opscenter.hooks.deliveries.policy import AttemptResult, RetryPolicy, TokenBuckets
from opscenter.hooks.deliveries.webhook import WebhookSender
from opscenter.hooks.packages import HandlerPackages
from opscenter.hooks.sandbox import SandboxSettings
from opscenter.hooks.scheduler import Scheduler
from opscenter.hooks.secrets import SecretCipher
from opscenter.hooks.settings import HooksSettings
from opscenter.hooks.tokens import InstallationTokens
from opscenter.servicekit.artifacts import ArtifactSource, HttpArtifactSource, InstallStore
from opscenter.servicekit.db import DATABASE_AWAY
from opscenter.servicekit.process import install_signal_stop, run_main
from opscenter.servicekit.runtime import ServiceRuntime
from opscenter.servicekit.sealing import Opener
from opscenter.servicekit.telemetry import start_process_telemetry

log = logging.getLogger(__name__)
tracer = trace.get_tracer("opscenter.hooks.dispatcher")

ATTEMPTS = Counter("hooks_attempts_total", "Delivery attempts by outcome", ["outcome"])
IN_FLIGHT = Gauge("hooks_attempts_in_flight", "Attempts under way in this dispatcher")
QUEUE_DEPTH = Gauge("hooks_queue_depth", "Pending deliveries per tenant", ["tenant_id"])
BREAKERS = Gauge("hooks_breakers", "Endpoint circuit breakers per state", ["state"])
SANDBOX = Gauge("hooks_sandbox", "Sandbox pools and warm workers of this dispatcher", ["kind"])
LATENCY = Histogram(
    "hooks_attempt_seconds",
    "Attempt duration",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 15),
)


def dispatch_config(settings: HooksSettings) -> service.DispatchConfig:
    return service.DispatchConfig(
        lease=timedelta(seconds=settings.lease_s),
        batch_size=settings.dispatch_batch_size,
        tenant_share=settings.tenant_share_per_claim,
        breaker_threshold=settings.breaker_threshold,
        breaker_probe=timedelta(seconds=settings.breaker_probe_s),
        policy=RetryPolicy(
            settings.retry_schedule_s, settings.retry_jitter, settings.retry_after_cap_s
        ),
    )


def handler_runner(
    settings: HooksSettings, sandbox: SandboxSettings, source: ArtifactSource | None = None
) -> HandlerRunner:
    packages = HandlerPackages(
        source
        or HttpArtifactSource(
            settings.catalog_url, settings.fetch_timeout_s, settings.artifact_max_bytes
        ),
        InstallStore(Path(settings.package_root), settings.unpacked_max_bytes),
        settings.allow_unsigned,
    )
    return HandlerRunner(
        packages,
        sandbox,
        Path(settings.storage_root),
        settings.storage_quota_mb * 1024 * 1024,
        Opener(settings.config_private_key.get_secret_value()),
    )


class Dispatcher:
    def __init__(
        self,
        runtime: ServiceRuntime,
        settings: HooksSettings,
        sandbox: SandboxSettings | None = None,
        artifacts: ArtifactSource | None = None,
    ) -> None:
        self.runtime = runtime
        self.settings = settings
        self.config = dispatch_config(settings)
        self.cipher = SecretCipher(settings.secret_key.get_secret_value())
        self.tokens = InstallationTokens(
            settings.token_signing_seed.get_secret_value(), settings.token_ttl_s
        )
        self.buckets = TokenBuckets(settings.installation_rate_per_s, settings.installation_burst)
        self.sender = WebhookSender(
            timeout_s=settings.webhook_timeout_s,
            allow_private=settings.allow_private_targets,
            max_connections=settings.dispatch_concurrency,
        )
        self.handlers = handler_runner(settings, sandbox or SandboxSettings(), artifacts)
        self.modes: dict[str, service.AttemptMode] = {
            "webhook": self.sender,
            "handler": self.handlers,
        }
        self._results: asyncio.Queue[tuple[service.Work, AttemptResult]] = asyncio.Queue()
        self._tasks: set[asyncio.Task[None]] = set()
        self._rng = random.Random()  # noqa: S311 (retry jitter, not secrecy)

    async def run(self, stop: asyncio.Event) -> None:
        recorder = asyncio.create_task(self._record_loop())
        gauges = asyncio.create_task(self._gauge_loop(stop))
        ticker = asyncio.create_task(Scheduler(self.runtime, self.settings).run(stop))
        try:
            await self._claim_loop(stop)
            if self._tasks:
                await asyncio.wait(self._tasks)
            await self._results.join()
        finally:
            for task in (recorder, gauges, ticker):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            for mode in self.modes.values():
                await mode.close()

    async def _claim_loop(self, stop: asyncio.Event) -> None:
        concurrency = self.settings.dispatch_concurrency
        # A claim is a transaction of several statements: claiming a slot at a time as each
        # attempt ends would cost one per delivery, so claims wait for half a batch of slots.
        worth_claiming = max(1, min(self.config.batch_size, concurrency) // 2)
        while not stop.is_set():
            free = concurrency - len(self._tasks)
            if free < worth_claiming:
                await asyncio.wait(self._tasks, return_when=asyncio.FIRST_COMPLETED)
                continue
            try:
                async with self.runtime.uow() as uow:
                    works = await service.claim(
                        uow,
                        self.config,
                        self.cipher,
                        self.buckets,
                        min(free, self.config.batch_size),
                    )
            except DATABASE_AWAY as exc:
                log.warning("claim failed; retrying", extra={"error": repr(exc)})
                works = []
            for work in works:
                task = asyncio.create_task(self._attempt(work))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
            if not works:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self.settings.idle_poll_s)

    async def _gauge_loop(self, stop: asyncio.Event, every_s: float = 5.0) -> None:
        """Queue depth per tenant and breaker states, read from the rows every few seconds."""
        while not stop.is_set():
            try:
                async with self.runtime.sessions() as session:
                    depths, states = await service.gauges(session)
            except DATABASE_AWAY as exc:
                log.warning("gauges not read", extra={"error": repr(exc)})
            else:
                QUEUE_DEPTH.clear()
                for tenant_id, count in depths.items():
                    QUEUE_DEPTH.labels(tenant_id).set(count)
                for state in ("closed", "open", "half_open"):
                    BREAKERS.labels(state).set(states.get(state, 0))
            stats = self.handlers.stats()
            for kind in ("workers", "pools"):
                SANDBOX.labels(kind).set(stats[kind])
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), every_s)

    async def _attempt(self, work: service.Work) -> None:
        IN_FLIGHT.inc()
        context = propagate.extract({"traceparent": work.traceparent or ""})
        try:
            with tracer.start_as_current_span(
                f"hooks deliver {work.event_type}", context=context, kind=trace.SpanKind.CLIENT
            ) as span:
                span.set_attribute("hooks.delivery_id", str(work.delivery_id))
                span.set_attribute("hooks.attempt", work.attempt)
                span.set_attribute("hooks.target", work.target)
                token = self.tokens.mint(
                    work.installation_id, work.tenant_id, work.plugin_id, work.granted
                )
                result = await self.modes[work.target].attempt(work, token)
                if result.status_code is not None:
                    span.set_attribute("http.response.status_code", result.status_code)
                if result.cause is not None:
                    span.set_attribute("hooks.sandbox.cause", result.cause)
        finally:
            IN_FLIGHT.dec()
        ATTEMPTS.labels(result.outcome).inc()
        LATENCY.observe(result.latency_ms / 1000)
        await self._results.put((work, result))

    async def _record_loop(self) -> None:
        while True:
            batch = [await self._results.get()]
            while not self._results.empty() and len(batch) < 500:
                batch.append(self._results.get_nowait())
            while True:
                try:
                    async with self.runtime.uow() as uow:
                        await service.record(uow, batch, self.config, self._rng)
                    break
                except DATABASE_AWAY as exc:
                    # The leases outlive a short outage; a long one lets them expire and the
                    # attempts are made again (at least once).
                    log.warning("recording failed; retrying", extra={"error": repr(exc)})
                    await asyncio.sleep(1.0)
            for _ in batch:
                self._results.task_done()


async def run_dispatcher(settings: HooksSettings) -> None:
    start_process_telemetry(settings, "dispatcher")
    # httpx logs every request at INFO: the attempts table and metrics already say it all.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    runtime = ServiceRuntime.create(settings, models)
    stop = install_signal_stop()
    try:
        await Dispatcher(runtime, settings).run(stop)
    finally:
        await runtime.dispose()


def run() -> None:
    run_main(run_dispatcher(HooksSettings()))


if __name__ == "__main__":
    run()
