"""Hook deliveries: the hooks pipeline beside a bare consumer posting the same webhooks, in one run.

    eval "$(deploy/local/stack.sh env dev)"; uv run python bench/hooks.py

Set-up: N tenants x M enabled installations, each subscribed to ``device.created`` by webhook,
all pointed at one fast loopback receiver (aiohttp, in this process) that answers 204 and notes
when each delivery arrived. Platform events are CloudEvents on a bench topic of the real Kafka.

- pipeline: the hooks consumer (the real one from ``worker.py``, FastStream batch subscriber,
  inbox, fan-out rows in Postgres, offsets after commit) in this process, and the real
  dispatcher (``python -m opscenter.hooks.dispatcher``: leases, signatures, attempt rows,
  outbox events) as its own process.
- baseline: a bare aiokafka consumer reading the same events and posting each one to its M
  subscribers with an ``httpx.AsyncClient`` configured as the dispatcher's, to the same
  receiver: no database, no signatures, no records.

Two phases per side: a burst (every event published at once: sustained deliveries/s) and a
paced phase (``--rate`` events/s: event-to-delivery p50/p99, from the event's ``time`` to its
arrival). The first line is a calibration: a fixed pure-Python loop's time, so runs on machines
of different speed can be compared. Aims (issue 13): pipeline >= 50% of the baseline's
deliveries/s and >= 2,000/s on 2 cores; p99 <= 250 ms at 500 events/s with 4 subscribers each.
The receiver runs in a process of its own. Warm sandboxed handler calls are measured by
``bench/hooks_sandbox.py`` (beside a bare warm subprocess pipe) and handler deliveries through
the pipeline by ``bench/hooks_handlers.py``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime

import httpx
from aiohttp import web
from aiokafka import AIOKafkaConsumer

from opscenter.contracts import Topic
from opscenter.contracts.manifest import HookSpec
from opscenter.hooks import models, worker
from opscenter.hooks.testing import Hooks, device_created, hooks_settings
from opscenter.servicekit.consumer import subscribe
from opscenter.servicekit.kafka import create_broker, create_producer, ensure_topics
from opscenter.servicekit.runtime import ServiceRuntime
from opscenter.servicekit.testing import LocalStack, drop_database, migrated_database


def calibration() -> float:
    started = time.perf_counter()
    total = 0
    for i in range(2_000_000):
        total += i % 7
    return time.perf_counter() - started


class FastReceiver:
    """A loopback webhook receiver in a process of its own (so the bench's publisher and
    in-process consumer never share its event loop or its core's time): it answers 204 and
    notes when each delivery arrived; the bench reads what it noted over ``/_stats``."""

    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.arrivals: list[float] = []
        self.port = 0
        self._process: multiprocessing.Process | None = None
        self._client = httpx.AsyncClient(timeout=30)

    async def start(self) -> None:
        ports: multiprocessing.Queue[int] = multiprocessing.Queue()
        self._process = multiprocessing.Process(target=_serve_receiver, args=(ports,), daemon=True)
        self._process.start()
        self.port = await asyncio.to_thread(ports.get, True, 30)

    async def stop(self) -> None:
        await self._client.aclose()
        if self._process is not None:
            self._process.terminate()
            self._process.join(10)

    async def reset(self) -> None:
        await self._client.post(f"http://127.0.0.1:{self.port}/_reset")
        self.latencies, self.arrivals = [], []

    async def refresh(self) -> None:
        stats = (await self._client.get(f"http://127.0.0.1:{self.port}/_stats")).json()
        self.latencies, self.arrivals = stats["latencies"], stats["arrivals"]

    async def wait_for(self, count: int, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        await self.refresh()
        while len(self.arrivals) < count and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
            await self.refresh()


def _serve_receiver(ports: multiprocessing.Queue[int]) -> None:
    latencies: list[float] = []
    arrivals: list[float] = []

    async def hook(request: web.Request) -> web.Response:
        body = json.loads(await request.read())
        now = time.time()
        arrivals.append(now)
        latencies.append(now - datetime.fromisoformat(body["time"]).timestamp())
        return web.Response(status=204)

    async def stats(_: web.Request) -> web.Response:
        return web.json_response({"latencies": latencies, "arrivals": arrivals})

    async def reset(_: web.Request) -> web.Response:
        latencies.clear()
        arrivals.clear()
        return web.Response(status=204)

    async def serve() -> None:
        app = web.Application()
        app.router.add_get("/_stats", stats)
        app.router.add_post("/_reset", reset)
        app.router.add_post("/{path:.*}", hook)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0, backlog=1024)
        await site.start()
        ports.put(site._server.sockets[0].getsockname()[1])  # type: ignore[union-attr]
        await asyncio.Event().wait()

    asyncio.run(serve())


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


async def publish(
    bootstrap: str, topic: str, events: list[bytes], keys: list[bytes], rate: float | None
) -> None:
    producer = create_producer(bootstrap, client_id="bench-hooks")
    await producer.start()
    try:
        started = time.monotonic()
        for i, (value, key) in enumerate(zip(events, keys, strict=True)):
            if rate:
                due = started + i / rate
                if due > time.monotonic():
                    await asyncio.sleep(due - time.monotonic())
            await producer.send(topic, value, key=key)
        await producer.flush()
    finally:
        await producer.stop()


def make_events(tenants: list[str], count: int) -> tuple[list[bytes], list[bytes]]:
    values, keys = [], []
    for i in range(count):
        t = tenants[i % len(tenants)]
        event = device_created(t, f"dev-{i % 97}", time=datetime.now(UTC))
        values.append(event.to_json_bytes())
        keys.append(t.encode())
    return values, keys


def restamp(values: list[bytes]) -> list[bytes]:
    """Fresh ``time`` at publish so latency is measured from when the event was sent."""
    now = datetime.now(UTC).isoformat()
    out = []
    for v in values:
        doc = json.loads(v)
        doc["time"] = now
        out.append(json.dumps(doc).encode())
    return out


async def paced(
    bootstrap: str,
    topic: str,
    tenants: list[str],
    rate: float,
    seconds: float,
    receiver: FastReceiver,
    per_event: int,
) -> tuple[float, float]:
    count = int(rate * seconds)
    values, keys = make_events(tenants, count)
    await receiver.reset()
    producer = create_producer(bootstrap, client_id="bench-hooks-paced")
    await producer.start()
    try:
        started = time.monotonic()
        for i, (value, key) in enumerate(zip(values, keys, strict=True)):
            due = started + i / rate
            if due > time.monotonic():
                await asyncio.sleep(due - time.monotonic())
            doc = json.loads(value)
            doc["time"] = datetime.now(UTC).isoformat()
            await producer.send(topic, json.dumps(doc).encode(), key=key)
        await producer.flush()
    finally:
        await producer.stop()
    await receiver.wait_for(count * per_event, 60)
    return percentile(receiver.latencies, 0.5) * 1000, percentile(receiver.latencies, 0.99) * 1000


async def burst(
    bootstrap: str,
    topic: str,
    tenants: list[str],
    count: int,
    receiver: FastReceiver,
    per_event: int,
) -> float:
    values, keys = make_events(tenants, count)
    await receiver.reset()
    started = time.time()
    await publish(bootstrap, topic, restamp(values), keys, None)
    await receiver.wait_for(count * per_event, 60)
    print(f"  ... {len(receiver.arrivals)}/{count * per_event} delivered", flush=True)
    elapsed = (receiver.arrivals[-1] if receiver.arrivals else time.time()) - started
    return len(receiver.arrivals) / elapsed


async def baseline_consumer(
    bootstrap: str,
    topic: str,
    urls_of: dict[str, list[str]],
    stop: asyncio.Event,
    ready: asyncio.Event,
) -> None:
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=f"bench-bare-{uuid.uuid4().hex[:6]}",
        auto_offset_reset="earliest",
        enable_auto_commit=True,
    )
    client = httpx.AsyncClient(
        timeout=15.0,
        follow_redirects=False,
        limits=httpx.Limits(max_connections=200, max_keepalive_connections=200),
    )
    slots = asyncio.Semaphore(200)

    async def post(url: str, content: bytes) -> None:
        async with slots:
            try:
                await client.post(url, content=content)
            except httpx.HTTPError as exc:  # counted as missing deliveries, never fatal
                print(f"  bare post failed: {exc!r}", flush=True)

    await consumer.start()
    ready.set()
    try:
        while not stop.is_set():
            batches = await consumer.getmany(timeout_ms=100, max_records=500)
            posts = []
            for records in batches.values():
                for r in records:
                    doc = json.loads(r.value)
                    body = {
                        "id": doc["id"],
                        "type": doc["type"],
                        "time": doc["time"],
                        "tenant_id": doc["tenantid"],
                        "data": doc["data"],
                    }
                    content = json.dumps(body).encode()
                    posts += [post(u, content) for u in urls_of[doc["tenantid"]]]
            if posts:
                await asyncio.gather(*posts)
    finally:
        await consumer.stop()
        await client.aclose()


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tenants", type=int, default=10)
    parser.add_argument("--installations", type=int, default=4)
    parser.add_argument("--events", type=int, default=1500)
    parser.add_argument("--rate", type=float, default=500.0)
    parser.add_argument("--seconds", type=float, default=6.0)
    args = parser.parse_args()
    print(f"calibration: 2M-iteration pure-Python loop {calibration() * 1000:.0f} ms")

    stack = LocalStack(
        os.environ["OPSCENTER_KAFKA_BOOTSTRAP"],
        os.environ["OPSCENTER_DATABASE_URL"],
        os.environ["OPSCENTER_PG_ADMIN_DSN"],
    )
    # A fresh topic per side: each reads it from the start.
    run_id = uuid.uuid4().hex[:8]
    bare_topic = Topic(f"bench.hooks-bare.{run_id}", key="tenant id", partitions=6)
    topic = Topic(f"bench.hooks.{run_id}", key="tenant id", partitions=6)
    await ensure_topics(stack.kafka_bootstrap, [bare_topic, topic])
    receiver = FastReceiver()
    await receiver.start()
    url = f"http://127.0.0.1:{receiver.port}/hook"
    db = await migrated_database(stack, "hooks")
    settings = hooks_settings(
        db,
        stack,
        retry_schedule_s=(0.0, 1.0, 5.0),
        db_pool_size=5,
        installation_rate_per_s=1e6,
        installation_burst=1_000_000,
        tenant_share_per_claim=100,
        dispatch_batch_size=200,
    )
    runtime = ServiceRuntime.create(settings, models)
    broker = create_broker(settings)
    hooks = Hooks(settings, runtime, None, {}, None)  # type: ignore[arg-type]
    for c in worker.consumers(runtime, broker):
        hooks.consumers[c.name] = c
    tenants = [f"bench-{uuid.uuid4().hex[:6]}" for _ in range(args.tenants)]
    urls_of = {t: [url] * args.installations for t in tenants}
    for t in tenants:
        for _ in range(args.installations):
            await hooks.enable(t, [HookSpec(name="device.created", url=url)])
    per_event = args.installations
    print(
        f"set-up: {args.tenants} tenants x {args.installations} installations, "
        "one loopback receiver"
    )

    # Baseline first: a bare consumer group on the bench topic.
    stop, ready = asyncio.Event(), asyncio.Event()
    bare = asyncio.create_task(
        baseline_consumer(stack.kafka_bootstrap, bare_topic.name, urls_of, stop, ready)
    )
    await ready.wait()
    await burst(stack.kafka_bootstrap, bare_topic.name, tenants, 50, receiver, per_event)
    bare_rate = await burst(
        stack.kafka_bootstrap, bare_topic.name, tenants, args.events, receiver, per_event
    )
    bare_p50, bare_p99 = await paced(
        stack.kafka_bootstrap,
        bare_topic.name,
        tenants,
        args.rate,
        args.seconds,
        receiver,
        per_event,
    )
    stop.set()
    await bare

    platform = hooks.consumers["hooks.platform-events"]
    platform.topics = [topic.name]
    platform.name = f"hooks.bench-{uuid.uuid4().hex[:6]}"
    subscribe(broker, platform, max_records=500)
    await broker.start()
    env = {
        **os.environ,
        "HOOKS_DATABASE_URL": db,
        "HOOKS_KAFKA_BOOTSTRAP": stack.kafka_bootstrap,
        "HOOKS_ALLOW_PRIVATE_TARGETS": "true",
        "HOOKS_LOG_LEVEL": "WARNING",
        "HOOKS_INSTALLATION_RATE_PER_S": "1000000",
        "HOOKS_INSTALLATION_BURST": "1000000",
        "HOOKS_TENANT_SHARE_PER_CLAIM": "100",
        "HOOKS_DISPATCH_BATCH_SIZE": "200",
        "HOOKS_IDLE_POLL_S": "0.02",
    }
    dispatcher = subprocess.Popen(  # noqa: ASYNC220 (started once, before the measurement)
        [sys.executable, "-m", "opscenter.hooks.dispatcher"], env=env
    )
    try:
        await asyncio.sleep(3)  # consumer group assignment, dispatcher start
        # Warm-up so the group's offsets exist before the measured burst.
        await burst(stack.kafka_bootstrap, topic.name, tenants, 50, receiver, per_event)
        rate = await burst(
            stack.kafka_bootstrap, topic.name, tenants, args.events, receiver, per_event
        )
        p50, p99 = await paced(
            stack.kafka_bootstrap, topic.name, tenants, args.rate, args.seconds, receiver, per_event
        )
    finally:
        dispatcher.terminate()
        dispatcher.wait(30)
        await broker.stop()
        await runtime.dispose()
        await receiver.stop()
        await drop_database(stack, db)
    print(f"burst of {args.events} events x {per_event} subscribers (deliveries/s):")
    print(f"  bare consumer + httpx  {bare_rate:8.0f}")
    share = rate / bare_rate
    print(f"  hooks pipeline         {rate:8.0f}   ({share:.0%} of bare; aim >= 50%, >= 2000/s)")
    print(
        f"paced {args.rate:.0f} events/s for {args.seconds:.0f} s x {per_event} subscribers, "
        "event-to-delivery ms:"
    )
    print(f"  bare consumer + httpx  p50 {bare_p50:7.1f}  p99 {bare_p99:7.1f}")
    print(f"  hooks pipeline         p50 {p50:7.1f}  p99 {p99:7.1f}   (aim p99 <= 250)")
    print("sandboxed calls: bench/hooks_sandbox.py; handler deliveries: bench/hooks_handlers.py")


if __name__ == "__main__":
    asyncio.run(main())
