"""The workload of `test_suite_under_faults.py`: tenants that install a webhook plugin, receive
platform events on a loopback receiver and review the plugin, driven through the gateway while
processes, Kafka and Postgres die under them.

Invariants the workload keeps so that "expected" is well defined:
- Every write carries an Idempotency-Key chosen once per intended effect; a request that fails
  in transit or with a transient status (429, 5xx) is sent again with the same key and body, so
  a write that committed before its answer was lost is answered from the first time.
- A refusal that only means "not yet" (a projection still catching up: 404, 403) is retried
  too; it stored nothing (servicekit.writes), so the same key stays valid.
- A platform event is built once (its id fixed) and its Kafka record re-sent until the broker
  acknowledges it: a re-send after an ambiguous failure is the same event, which consumers
  must deduplicate by id.
- Every wait is bounded; a step that cannot complete fails its tenant's flow with what it saw.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass, field
from typing import Any

import httpx
from aiohttp import web
from aiokafka import AIOKafkaProducer

from opscenter.contracts import CloudEvent, new_event
from opscenter.contracts.platform import DeviceCreatedV1
from opscenter.contracts.publisher import record_for_event
from opscenter.hooks.testing import Call, Receiver
from opscenter.servicekit.auth import mint_dev_token
from opscenter.servicekit.settings import ServiceSettings

SETTINGS = ServiceSettings()  # the suite's services share the local signing secret
#: Answers that mean "the request did not take effect, or may have; send it again".
TRANSIENT = frozenset({429, 500, 502, 503, 504})
#: How long one step (one write, or one wait for a state) may take on a loaded machine, across
#: process kills and broker and database restarts: sixteen processes starting at once on a
#: busy 2-core machine have taken four minutes to answer again.
STEP_TIMEOUT_S = 480.0
#: Transient failures are retried after a delay doubling up to this (the retries must not
#: take the CPU the restarting processes need).
MAX_BACKOFF_S = 4.0
#: Streaming tenants' receivers answer this late, so that a dispatcher killed has attempts in
#: flight: their leases expire and they are made again under the same webhook-id.
SLOW_ANSWER_S = 1.5


def bearer(**claims: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {mint_dev_token(SETTINGS, **claims)}"}


@dataclass
class Counters:
    """What the workload did besides its effects: shown in the report."""

    resent_requests: int = 0  # requests sent again (transport error or transient status)
    not_yet: int = 0  # "not yet" refusals while a projection caught up
    resent_events: int = 0  # platform events whose record was sent again
    sent_events: int = 0  # platform events acknowledged by the broker
    answering: int = 0  # webhook calls the streaming tenants' receivers are answering now
    analytics_answers: int = 0
    analytics_failures: int = 0


class Api:
    """The gateway, with bounded retries that keep a write's Idempotency-Key."""

    def __init__(self, client: httpx.AsyncClient, counters: Counters) -> None:
        self.client = client
        self.counters = counters

    async def call(
        self,
        method: str,
        path: str,
        *,
        headers: dict[str, str],
        ok: Collection[int],
        not_yet: Collection[int] = (),
        key: str | None = None,
        every_s: float = 0.5,
        timeout_s: float = STEP_TIMEOUT_S,
        **kwargs: Any,
    ) -> httpx.Response:
        """Sends until the answer's status is in `ok`; a status outside `ok`, `not_yet` and
        TRANSIENT fails at once (a real refusal), running out of time fails with the last."""
        if key is not None:
            headers = {**headers, "Idempotency-Key": key}
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        last = "nothing"
        backoff = every_s
        while loop.time() < deadline:
            delay = every_s
            try:
                answer = await self.client.request(method, path, headers=headers, **kwargs)
            except httpx.TransportError as exc:
                last = f"{type(exc).__name__}: {exc}"
                self.counters.resent_requests += 1
                delay = backoff = min(backoff * 2, MAX_BACKOFF_S)
            else:
                if answer.status_code in ok:
                    return answer
                last = f"{answer.status_code} {answer.text[:300]}"
                if answer.status_code in not_yet:
                    self.counters.not_yet += 1
                elif answer.status_code in TRANSIENT:
                    self.counters.resent_requests += 1
                    delay = backoff = min(backoff * 2, MAX_BACKOFF_S)
                else:
                    raise AssertionError(f"{method} {path} refused: {last}")
            await asyncio.sleep(delay)
        raise AssertionError(f"{method} {path} did not succeed in {timeout_s:.0f}s: {last}")

    async def until(
        self,
        path: str,
        headers: dict[str, str],
        accept: Callable[[httpx.Response], bool],
        *,
        timeout_s: float = STEP_TIMEOUT_S,
    ) -> httpx.Response:
        """Polls a read until `accept` holds; fails with the last answer after `timeout_s`."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        last = "nothing"
        while loop.time() < deadline:
            with contextlib.suppress(httpx.TransportError):
                answer = await self.client.get(path, headers=headers)
                if accept(answer):
                    return answer
                last = f"{answer.status_code} {answer.text[:300]}"
            await asyncio.sleep(1.0)
        raise AssertionError(f"GET {path}: not there in {timeout_s:.0f}s; last {last}")


class Platform:
    """Publishes platform events as the platform services do (contracts' record for an
    event), resending one event's record until the broker acknowledges it."""

    def __init__(self, bootstrap: str, counters: Counters) -> None:
        self.bootstrap = bootstrap
        self.counters = counters
        self._producer: AIOKafkaProducer | None = None
        self._lock = asyncio.Lock()

    async def _started(self) -> AIOKafkaProducer:
        async with self._lock:
            if self._producer is None:
                producer = AIOKafkaProducer(
                    bootstrap_servers=self.bootstrap,
                    enable_idempotence=True,
                    acks="all",
                    request_timeout_ms=15000,
                )
                await producer.start()
                self._producer = producer
            return self._producer

    async def _reset(self, broken: AIOKafkaProducer) -> None:
        async with self._lock:
            if self._producer is broken:
                self._producer = None
        with contextlib.suppress(Exception):  # it may still be flushing to a dead broker
            await asyncio.wait_for(broken.stop(), 30)

    async def send(self, event: CloudEvent, timeout_s: float = STEP_TIMEOUT_S) -> None:
        record = record_for_event(event)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while True:
            producer = None
            try:
                producer = await asyncio.wait_for(self._started(), 30)
                await asyncio.wait_for(
                    producer.send_and_wait(
                        record.topic, value=record.value, key=record.key, headers=record.headers
                    ),
                    30,
                )
                return
            except Exception as exc:  # any broker failure: the same record again
                if loop.time() > deadline:
                    raise AssertionError(f"event {event.id} not acknowledged: {exc!r}") from exc
                self.counters.resent_events += 1
                if producer is not None:
                    await self._reset(producer)
                await asyncio.sleep(1.0)

    async def stop(self) -> None:
        if self._producer is not None:
            await self._producer.stop()


@dataclass
class Plugin:
    slug: str
    id: str
    developer: dict[str, str]


@dataclass
class Tenant:
    """One tenant's part of the workload and what it was answered."""

    name: str
    rating: int
    receiver: Receiver = field(default_factory=Receiver)
    installation_id: str | None = None
    events: list[str] = field(default_factory=list)  # platform event ids, acknowledged
    review_id: str | None = None
    done: bool = False

    @property
    def admin(self) -> dict[str, str]:
        return bearer(sub=f"admin-{self.name}", tenant_id=self.name, roles=["tenant_admin"])

    @property
    def member(self) -> dict[str, str]:
        return bearer(sub=f"member-{self.name}", tenant_id=self.name, roles=["member"])


async def run_tenant(
    api: Api,
    platform: Platform,
    plugin: Plugin,
    tenant: Tenant,
    events: int,
    stream_until: asyncio.Event | None = None,
) -> None:
    """Install (enabled), point the webhook at the tenant's receiver and learn its signing
    secret, emit `events` device.created events (and, given `stream_until`, one a second more
    until it is set), review the plugin."""
    await tenant.receiver.start()
    if stream_until is not None:
        tenant.receiver.on("in", answer_slowly(api.counters))
    await install_enabled(api, plugin, tenant)
    # Hooks learns the installation from the installer's events: 404 until then, and its
    # subscription must be enabled before a platform event can be owed to it. Each look is a
    # new key: a PUT answered with an older state is the first answer of its own key.
    hooks = f"/api/v1/plugins/{plugin.id}/hooks"
    for n in range(int(STEP_TIMEOUT_S)):
        r = await api.call(
            "PUT",
            f"{hooks}/endpoint",
            headers=tenant.admin,
            key=f"endpoint-{tenant.name}-{n}",
            json={"url": tenant.receiver.url("in")},
            ok={200},
            not_yet={404},
        )
        if r.json()["state"] == "enabled":
            break
        await asyncio.sleep(1.0)
    r = await api.call(
        "POST",
        f"{hooks}/secret/rotate",
        headers=tenant.admin,
        key=f"secret-{tenant.name}",
        ok={200},
        not_yet={404},
    )
    tenant.receiver.verify_with.append(r.json()["secret"])
    i = 0
    while i < events or (stream_until is not None and not stream_until.is_set()):
        payload = DeviceCreatedV1(
            tenant_id=tenant.name, device_id=f"dev-{i}", name=f"edge-{i}", kind="router"
        )
        event = new_event(payload, source="/tests/faults/platform")
        await platform.send(event)
        tenant.events.append(event.id)
        api.counters.sent_events += 1
        i += 1
        if stream_until is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stream_until.wait(), 1.0)
    # Reviews admits a review once the catalog's and the installer's events reached it (404,
    # then 403 until then); each attempt counts against the member's write budget, hence the
    # slower pace.
    r = await api.call(
        "POST",
        f"/api/v1/plugins/marketplace/{plugin.slug}/reviews",
        headers=tenant.member,
        key=f"review-{tenant.name}",
        json={"rating": tenant.rating, "title": "Under faults", "body": f"from {tenant.name}"},
        ok={201},
        not_yet={403, 404},
        every_s=3.0,
    )
    tenant.review_id = r.json()["id"]
    tenant.done = True


async def install_enabled(api: Api, plugin: Plugin, tenant: Tenant) -> None:
    """Installs `plugin` for the tenant (enabled) and waits until it is; a failed
    installation fails the flow with its reason."""
    r = await api.call(
        "POST",
        "/api/v1/plugins/install",
        headers=tenant.admin,
        key=f"install-{tenant.name}",
        json={"plugin": plugin.slug, "accept_permissions": ["api:devices:read"]},
        ok={202},
    )
    tenant.installation_id = r.json()["installation"]["id"]
    await api.until(
        f"/api/v1/plugins/{plugin.slug}/installation",
        tenant.admin,
        lambda a: a.status_code == 200 and _enabled_or_failed(a.json()),
    )


def answer_slowly(counters: Counters) -> Callable[[Call, int], Awaitable[web.StreamResponse]]:
    """A receiver's behaviour: 200 after SLOW_ANSWER_S, counting the calls in progress."""

    async def answer(call: Call, n: int) -> web.StreamResponse:
        counters.answering += 1
        try:
            await asyncio.sleep(SLOW_ANSWER_S)
        finally:
            counters.answering -= 1
        return web.Response(status=200)

    return answer


def _enabled_or_failed(installation: dict[str, Any]) -> bool:
    state = installation["state"]
    if state == "failed":
        raise AssertionError(f"installation failed: {installation.get('reason')}")
    return bool(state == "enabled")


async def query_analytics(api: Api, plugin: Plugin, stop: asyncio.Event) -> None:
    """The developer watches the plugin's analytics while everything else goes on: a read
    that fails during a kill is counted, not retried (it changes nothing)."""
    path = f"/api/v1/plugins/{plugin.id}/analytics"
    while not stop.is_set():
        try:
            r = await api.client.get(path, params={"interval": "hour"}, headers=plugin.developer)
            ok = r.status_code == 200
        except httpx.TransportError:
            ok = False
        if ok:
            api.counters.analytics_answers += 1
        else:
            api.counters.analytics_failures += 1
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 1.0)


async def gather_flows(flows: list[Awaitable[None]]) -> list[BaseException]:
    """Runs every flow to its end; returns the failures (none may be silently dropped)."""
    results = await asyncio.gather(*flows, return_exceptions=True)
    return [r for r in results if isinstance(r, BaseException)]


def new_tenant_name(run: str, i: int) -> str:
    return f"faults-{run}-{i:02d}-{uuid.uuid4().hex[:4]}"
