"""Handler deliveries through the hooks pipeline beside bare sandbox calls, in one run.

    eval "$(deploy/local/stack.sh env dev)"
    sudo -E .local/tools/bin/uv run python bench/hooks_handlers.py  # root: a uid per slot

Set-up: one plugin version whose package (signed, served over loopback HTTP by the harness's
catalog stand-in) has a handler that returns its event; M enabled installations of it in one
tenant, each subscribed to ``device.created`` by that handler, so every event is M deliveries
sharing one sandbox shape of ``--workers`` warm workers.

- pipeline: the real consumer (fan-out rows in Postgres) then the real dispatcher in this
  process (claims, leases, package check, installation token, SandboxPool.call, attempt rows,
  outbox events). Deliveries/s over the burst, and per delivery the time from its row's
  creation to the end of its successful attempt (p50/p99).
- baseline: the same number of SandboxPool.call on a pool of the same settings, as many at
  once as the pool has workers, with the same event and a context of the same shape: what
  the sandbox alone costs, without the pipeline.

The first line is a calibration: a fixed pure-Python loop's time, so runs on hosts of other
speeds compare by ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
import uuid
from pathlib import Path

from opscenter.contracts.manifest import HookSpec
from opscenter.hooks import models, worker
from opscenter.hooks.sandbox import SandboxPool, SandboxSettings
from opscenter.hooks.sandbox.testing import handler_spec, write_package
from opscenter.hooks.testing import (
    ArtifactServer,
    Hooks,
    Signer,
    device_created,
    hooks_settings,
    package_bytes,
)
from opscenter.servicekit.kafka import create_broker
from opscenter.servicekit.runtime import ServiceRuntime
from opscenter.servicekit.testing import LocalStack, drop_database, migrated_database

HANDLER = "def echo(event, context):\n    return event\n"


def calibration() -> float:
    started = time.perf_counter()
    total = 0
    for i in range(3_000_000):
        total += i * i % 7
    return time.perf_counter() - started


def percentiles(samples_ms: list[float]) -> str:
    ordered = sorted(samples_ms)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return f"p50 {statistics.median(ordered):7.1f} ms  p99 {p99:7.1f} ms"


def sandbox_settings(workers: int, uid_base: int) -> SandboxSettings:
    return SandboxSettings(
        uid_base=uid_base, uid_count=4 * (workers + 1), max_pools=2, workers_per_pool=workers
    )


async def baseline(calls: int, workers: int, event: dict[str, object]) -> tuple[float, list[float]]:
    with tempfile.TemporaryDirectory() as root:
        os.chmod(root, 0o755)  # noqa: S103 - the slot uids read the package
        package = write_package(Path(root), "bench", {"handlers.py": HANDLER})
        pool = SandboxPool(sandbox_settings(workers, 692_000))
        await pool.start()
        spec = handler_spec(package, "echo")
        context = {"installation_id": str(uuid.uuid4()), "tenant_id": "t", "token": "x" * 400}
        try:
            for _ in range(20):
                await pool.call(spec, event, context)
            samples: list[float] = []
            gate = asyncio.Semaphore(workers)

            async def one() -> None:
                async with gate:
                    started = time.perf_counter()
                    outcome = await pool.call(spec, event, context)
                    samples.append((time.perf_counter() - started) * 1000)
                    assert outcome.ok, outcome

            started = time.perf_counter()
            await asyncio.gather(*(one() for _ in range(calls)))
            return calls / (time.perf_counter() - started), samples
        finally:
            await pool.close()


async def pipeline(
    stack: LocalStack, events: int, installations: int, workers: int
) -> tuple[float, list[float]]:
    catalog = ArtifactServer()
    await catalog.start()
    db = await migrated_database(stack, "hooks")
    with tempfile.TemporaryDirectory() as root:
        settings = hooks_settings(
            db,
            stack,
            catalog_url=catalog.url,
            package_root=str(Path(root) / "packages"),
            storage_root=str(Path(root) / "storage"),
            installation_rate_per_s=1e6,
            installation_burst=1_000_000,
            tenant_share_per_claim=200,
            dispatch_batch_size=200,
            lease_s=60.0,
        )
        runtime = ServiceRuntime.create(settings, models)
        hooks = Hooks(settings, runtime, None, {}, None)  # type: ignore[arg-type, unused-ignore]
        for c in worker.consumers(runtime, create_broker(settings)):
            hooks.consumers[c.name] = c
        signer = Signer()
        await hooks.register_key(signer)
        plugin = uuid.uuid4()
        await hooks.publish_version(plugin, catalog.add(package_bytes({"h.py": HANDLER})), signer)
        tenant = f"bench-{uuid.uuid4().hex[:6]}"
        spec = [HookSpec(name="device.created", handler="h:echo")]
        for _ in range(installations):
            await hooks.enable(tenant, spec, plugin_id=plugin)
        sandbox = sandbox_settings(workers, 694_000)
        try:
            async with hooks.dispatching(sandbox):
                await hooks.publish(device_created(tenant, "warm"))  # starts the workers
                await hooks.wait_for(
                    "SELECT 1 FROM deliveries WHERE status <> 'succeeded'", lambda r: not r, 120
                )
                started = time.perf_counter()
                await hooks.publish(*(device_created(tenant, f"d-{i}") for i in range(events)))
                rows = await hooks.wait_for(
                    "SELECT 1 FROM deliveries WHERE status <> 'succeeded'", lambda r: not r, 600
                )
                elapsed = time.perf_counter() - started
                assert not rows, f"{len(rows)} deliveries did not succeed"
            latencies = await hooks.rows(
                "SELECT extract(epoch FROM a.started_at - d.created_at) * 1000 + a.latency_ms"
                " FROM deliveries d JOIN delivery_attempts a ON a.delivery_id = d.id"
                " WHERE a.outcome = 'succeeded' AND d.event_id IN"
                " (SELECT event_id FROM platform_events WHERE data->>'device_id' <> 'warm')"
            )
            return events * installations / elapsed, [float(r[0]) for r in latencies]
        finally:
            await runtime.dispose()
            await drop_database(stack, db)
            await catalog.stop()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=300)
    parser.add_argument("--installations", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    print(f"calibration: 3M-iteration pure-Python loop {calibration():.3f} s", flush=True)
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    stack = LocalStack(
        os.environ["OPSCENTER_KAFKA_BOOTSTRAP"],
        os.environ["OPSCENTER_DATABASE_URL"],
        os.environ["OPSCENTER_PG_ADMIN_DSN"],
    )
    deliveries = args.events * args.installations
    event = device_created("t", "d-1")
    message = {"id": event.id, "type": event.type, "time": event.time.isoformat(),
               "tenant_id": "t", "data": event.data}  # fmt: skip
    bare_rate, bare = await baseline(deliveries, args.workers, message)
    rate, measured = await pipeline(stack, args.events, args.installations, args.workers)
    print(f"set-up: {args.events} events x {args.installations} installations, "
          f"{args.workers} warm workers")  # fmt: skip
    print(f"bare SandboxPool.call x{deliveries}: {bare_rate:6.0f} calls/s; "
          f"per call {percentiles(bare)}")  # fmt: skip
    print(f"pipeline handler deliveries x{deliveries}: {rate:6.0f} deliveries/s; row created to "
          f"attempt done (a burst: includes the queue) {percentiles(measured)}")  # fmt: skip
    print(f"pipeline / bare throughput: {rate / bare_rate:.0%}")
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    asyncio.run(main())
