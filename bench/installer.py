"""Installer benchmarks, each printed beside a baseline measured in the same run.

    eval "$(deploy/local/stack.sh env dev)"; uv run python bench/installer.py

1. Resolving a 20-plugin dependency closure (5 versions each, ranges that force backtracking
   away from the newest versions), cold (semver caches cleared) and warm. Aim: p99 <= 50 ms.
   Baseline: checking the same chosen plan's constraints once (what any plan costs at least).
2. 200 tenants installing a plugin with one dependency at once, through the real API, outbox,
   relay, Kafka, worker, artifact fetch over HTTP, signature check and unpack: p99 from request
   to Enabled. Aim: p99 <= 1 s. Baseline: the bare database writes the same flow needs (per
   tenant: the request transaction's rows and the executor's rows, one plain statement per
   row on raw asyncpg connections, as many as the API's pool, 200 tenants at once).
   Run with the API as one uvicorn worker (as deployed), then as 2 workers sharing its pool's
   connections (an extra line: the API as 2 replicas on this 2-core machine).
   The run's fresh consumer groups start at the shared topics' ends (they would replay every
   earlier run's events), and the burst starts after a warm-up install per pooled connection
   (first use prepares statements and introspects types on each connection: CPU otherwise
   counted as the burst's). Also printed: request -> 202 percentiles, and the CPU seconds each
   process (API, worker, relay, Postgres, Kafka, this load generator) spent during the flow: with
   every request arriving at once, p99 is about the time the whole batch needs, so on 2 cores
   it cannot be below (sum of CPU seconds) / 2, printed as the floor, with the flow's p99 over
   the baseline's (both hold still when the machine's speed drifts). The load generator is
   aiohttp (httpx cost several ms of CPU per request at 200 connections, taken from the
   processes being measured).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import gc
import hashlib
import io
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.structs import OffsetAndMetadata
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from http_load import free_port, wait_ready

from opscenter.contracts import (
    ALL_TOPICS,
    CATALOG_PLUGIN,
    CATALOG_PUBLISHER,
    INSTALLER_INSTALLATION,
    PluginVersionPublishedV1,
    PublisherKeyRegisteredV1,
    Topic,
    new_event,
    record_for_event,
    validate_manifest,
)
from opscenter.installer import resolver
from opscenter.installer.settings import InstallerSettings
from opscenter.servicekit.auth import mint_dev_token
from opscenter.servicekit.db import asyncpg_dsn
from opscenter.servicekit.kafka import ensure_topics
from opscenter.servicekit.testing import (
    LocalStack,
    drop_database,
    migrated_database,
)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def fmt(values: list[float]) -> str:
    ms = [v * 1000 for v in values]
    return (
        f"p50 {statistics.median(ms):7.2f} ms  p99 {pct(ms, 0.99):7.2f} ms  max {max(ms):7.2f} ms"
    )


# --- 1. resolver ------------------------------------------------------------------------------


def closure_index(n: int = 20, versions: int = 5) -> dict[str, list[resolver.Candidate]]:
    """Plugin i depends on i+1 and i+2; the newest versions of each ask for ranges that the
    next plugin's newest cannot meet, so the resolver backtracks."""
    index: dict[str, list[resolver.Candidate]] = {}
    for i in range(n):
        slug = f"plugin-{i:02d}"
        for v in range(versions):
            deps = {}
            for j in (i + 1, i + 2):
                if j < n:
                    deps[f"plugin-{j:02d}"] = (
                        f"^{v}.0.0" if v < versions - 1 else "^0.0.0 || ^1.0.0"
                    )
            index.setdefault(slug, []).append(resolver.Candidate(slug, f"{v}.0.0", deps))
    return index


def bench_resolver(rounds: int) -> None:
    index = closure_index()
    roots = [resolver.Requirement("plugin-00", "*")]
    cold, warm, check = [], [], []
    for _ in range(rounds):
        for fn in (resolver._satisfies, resolver.is_exact_pin, resolver._version_key):
            fn.cache_clear()
        t0 = time.perf_counter()
        result = resolver.resolve(index, roots)
        cold.append(time.perf_counter() - t0)
    for _ in range(rounds):
        t0 = time.perf_counter()
        result = resolver.resolve(index, roots)
        warm.append(time.perf_counter() - t0)
    from opscenter.contracts.semver import satisfies

    for _ in range(rounds):
        t0 = time.perf_counter()
        for c in result.order:
            for dep, rng in c.dependencies.items():
                assert satisfies(result.chosen[dep].version, rng)
        check.append(time.perf_counter() - t0)
    assert len(result.order) == 20
    print("resolve a 20-plugin closure (target p99 <= 50 ms)")
    print(f"  resolver, cold caches   {fmt(cold)}")
    print(f"  resolver, warm caches   {fmt(warm)}")
    print(f"  baseline: check plan    {fmt(check)}")


# --- 2. 200 tenants installing at once --------------------------------------------------------


class Artifacts:
    def __init__(self) -> None:
        blobs: dict[str, bytes] = {}
        self.blobs = blobs

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = blobs.get(self.path.rsplit("/", 1)[-1])
                self.send_response(200 if body else 404)
                self.send_header("Content-Length", str(len(body or b"")))
                self.end_headers()
                self.wfile.write(body or b"")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"


def package(slug: str, version: str) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        data = f"id: {slug}\nversion: {version}\n".encode()
        info = tarfile.TarInfo("plugin.yaml")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def start_processes(
    settings: InstallerSettings, port: int, api_workers: int = 1
) -> list[subprocess.Popen[bytes]]:
    """The installer as it is deployed: API under uvicorn, the worker, the outbox relay; each
    its own process. ``api_workers`` > 1 runs the API as that many uvicorn worker processes
    (``http_workers``, as replicas would), sharing the one process's ``db_pool_size``
    connections between them, so Postgres serves as many connections either way."""
    env = {
        **os.environ,
        "INSTALLER_DATABASE_URL": settings.database_url,
        "INSTALLER_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
        "INSTALLER_CATALOG_URL": settings.catalog_url,
        "INSTALLER_INSTALL_ROOT": settings.install_root,
        "INSTALLER_SERVICE_NAME": settings.service_name,
        "INSTALLER_HTTP_PORT": str(port),
        "INSTALLER_LOG_LEVEL": "WARNING",
    }
    api = [sys.executable, "-c", "from opscenter.installer.main import run; run()"]
    api_env = {
        **env,
        "INSTALLER_HTTP_WORKERS": str(api_workers),
        "INSTALLER_DB_POOL_SIZE": str(max(1, settings.db_pool_size // api_workers)),
    }
    return [
        subprocess.Popen(api, env=api_env),
        subprocess.Popen([sys.executable, "-m", "opscenter.installer.worker"], env=env),
        subprocess.Popen([sys.executable, "-m", "opscenter.installer.relay"], env=env),
    ]


def stop(processes: list[subprocess.Popen[bytes]]) -> None:
    for proc in processes:
        proc.terminate()
    for proc in processes:
        proc.wait(timeout=20)


async def bench_installs(stack: LocalStack, tenants: int, api_workers: int = 1) -> None:
    # The load generator's heap so far (the resolver bench's objects, imports) is left out of
    # its garbage collections: rescanning it during the burst doubled this process's CPU.
    gc.collect()
    gc.freeze()
    url = await migrated_database(stack, "installer")
    artifacts = Artifacts()
    settings = InstallerSettings(
        database_url=url,
        kafka_bootstrap=stack.kafka_bootstrap,
        catalog_url=artifacts.url,
        install_root=tempfile.mkdtemp(prefix="installs-"),
        service_name=f"installer-bench{uuid.uuid4().hex[:6]}",
    )
    await ensure_topics(settings.kafka_bootstrap, ALL_TOPICS)
    await start_groups_at_end(settings.kafka_bootstrap, settings.service_name)
    port = free_port()
    processes = start_processes(settings, port, api_workers)
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all")
    await producer.start()
    pg = await asyncpg.connect(asyncpg_dsn(url))
    try:
        key = Ed25519PrivateKey.generate()
        key_id = uuid.uuid4()
        raw = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)

        async def send(payload: Any) -> None:
            record = record_for_event(new_event(payload, source="/opscenter/catalog"))
            await producer.send_and_wait(
                record.topic, record.value, key=record.key, headers=record.headers
            )

        await send(
            PublisherKeyRegisteredV1(
                publisher_id="pub-bench",
                key_id=key_id,
                public_key=base64.b64encode(raw).decode(),
                fingerprint=hashlib.sha256(raw).hexdigest(),
                registered_at=datetime.now(UTC),
            )
        )
        suffix = uuid.uuid4().hex[:6]
        lib, app_slug = f"bench-lib-{suffix}", f"bench-app-{suffix}"
        for slug, deps in ((lib, {}), (app_slug, {lib: "^1.0.0"})):
            blob = package(slug, "1.0.0")
            digest = hashlib.sha256(blob).hexdigest()
            artifacts.blobs[digest] = blob
            manifest = validate_manifest(
                {
                    "id": slug,
                    "name": slug,
                    "version": "1.0.0",
                    "author": "bench",
                    "type": "backend",
                    "category": "other",
                    "entry_points": {"backend": "main.py:App"},
                    "dependencies": {"plugins": deps},
                    "permissions": ["storage:read"],
                }
            )
            await send(
                PluginVersionPublishedV1(
                    plugin_id=uuid.uuid4(),
                    slug=slug,
                    publisher_id="pub-bench",
                    version="1.0.0",
                    manifest=manifest,
                    digest=digest,
                    size=len(blob),
                    signature=base64.b64encode(key.sign(bytes.fromhex(digest))).decode(),
                    signing_key_id=str(key_id),
                    artifact_path=f"/api/v1/plugins/marketplace/{slug}/versions/1.0.0/package",
                    published_at=datetime.now(UTC),
                )
            )
        for query, args in (
            ("SELECT 1 FROM publisher_keys", ()),
            ("SELECT 1 FROM catalog_versions WHERE slug = $1", (app_slug,)),
        ):
            for _ in range(600):
                if await pg.fetchval(query, *args):
                    break
                await asyncio.sleep(0.05)
        # The groups started at the topics' ends; what they have to read is this run's key and
        # versions, and perhaps a concurrent run's events.
        await wait_caught_up(settings.kafka_bootstrap, settings.service_name)

        ids = [f"bench-{suffix}-{i}" for i in range(tenants)]
        warm_up = [f"bench-{suffix}-warm-{i}" for i in range(WARM_UP_TENANTS)]
        tokens = {
            t: mint_dev_token(settings, sub=f"a-{t}", tenant_id=t, roles=["tenant_admin"])
            for t in (*warm_up, *ids)
        }
        started: dict[str, float] = {}
        accepted_at: dict[str, float] = {}
        enabled: dict[str, float] = {}
        # aiohttp, not httpx: at 200 connections httpx costs several ms of CPU per request,
        # which on this machine would be taken from the processes being measured.
        async with aiohttp.ClientSession(
            base_url=f"http://127.0.0.1:{port}",
            timeout=aiohttp.ClientTimeout(total=60),
            connector=aiohttp.TCPConnector(limit=tenants),
        ) as client:
            await wait_ready(client)

            async def install(tenant: str, *, close: bool = False) -> None:
                headers = {"Authorization": f"Bearer {tokens[tenant]}"}
                if close:  # a new connection each: uvicorn's workers take turns accepting
                    headers["Connection"] = "close"
                started[tenant] = time.perf_counter()
                async with client.post(
                    "/api/v1/plugins/install",
                    json={"plugin": app_slug, "accept_permissions": ["storage:read"]},
                    headers=headers,
                ) as r:
                    assert r.status == 202, await r.text()
                accepted_at[tenant] = time.perf_counter()

            async def watch(watched: list[str]) -> None:
                wanted = set(watched)
                while not wanted <= enabled.keys():
                    rows = await pg.fetch(
                        "SELECT tenant_id FROM installations WHERE slug = $1 AND state = 'enabled'",
                        app_slug,
                    )
                    now = time.perf_counter()
                    for row in rows:
                        enabled.setdefault(row["tenant_id"], now)
                    await asyncio.sleep(0.01)

            # A few installs first, one by one, so the burst meets warm processes (statements
            # compiled and prepared, clients built), as a running suite's would be.
            for tenant in warm_up:
                await install(tenant, close=api_workers > 1)
            await asyncio.wait_for(watch(warm_up), 60)

            cpu = CpuMeter(
                {"API": processes[0].pid, "worker": processes[1].pid, "relay": processes[2].pid},
                pg_port=urlsplit(url).port or 5432,
                kafka_port=int(settings.kafka_bootstrap.rsplit(":", 1)[1]),
            )
            watcher = asyncio.create_task(watch(ids))
            t0 = time.perf_counter()
            await asyncio.gather(*(install(t) for t in ids))
            accepted = time.perf_counter() - t0
            await asyncio.wait_for(watcher, 180)
            wall = time.perf_counter() - t0
            spent = cpu.spent()
        flow = [enabled[t] - started[t] for t in ids]
        to_202 = [accepted_at[t] - started[t] for t in ids]
        # Measured with the installer stopped: its relay would publish the baseline's outbox
        # rows to Kafka while they are written.
        stop(processes)
        baseline = await bare_writes(url, settings.db_pool_size, tenants)
        if api_workers == 1:
            print(f"{tenants} tenants install {app_slug} (+1 dependency) at once", end="")
            print(" (target p99 <= 1 s)")
            print("  (API under uvicorn, worker and relay: three processes, as deployed)")
        else:
            print(
                f"  API as {api_workers} uvicorn workers sharing its {settings.db_pool_size}"
                " pooled connections (same flow, fresh database):"
            )
        print(f"  request -> Enabled      {fmt(flow)}  (wall {wall:.2f} s)")
        print(f"  request -> 202          {fmt(to_202)}  (all returned after {accepted:.2f} s)")
        print(f"  baseline: bare writes   {fmt(baseline)}")
        cores = os.cpu_count() or 1
        print(
            f"  CPU seconds during the flow ({cores} cores): "
            + ", ".join(f"{k} {v:.2f}" for k, v in spent.items())
        )
        # Machine-independent views: this machine's speed drifts by ~40% within an hour.
        print(
            f"  flow p99 / bare-writes p99: {pct(flow, 0.99) / pct(baseline, 0.99):.1f}x;"
            f" floor of all CPU over {cores} cores: {sum(spent.values()) / cores:.2f} s"
        )
    finally:
        stop(processes)
        await producer.stop()
        await pg.close()
        await drop_database(stack, url)
        artifacts.server.shutdown()


def _groups(service: str) -> dict[str, Topic]:
    """The worker's consumer groups and the topic each reads."""
    return {
        f"{service}.catalog-projection": CATALOG_PLUGIN,
        f"{service}.publisher-keys": CATALOG_PUBLISHER,
        f"{service}.install-executor": INSTALLER_INSTALLATION,
    }


def _partitions(topic: Topic) -> list[TopicPartition]:
    # The contract's count: ensure_topics created the topic with it.
    return [TopicPartition(topic.name, p) for p in range(topic.partitions)]


async def start_groups_at_end(bootstrap: str, service: str) -> None:
    """Commits the topics' current ends for the run's fresh consumer groups, before the worker
    starts: the topics are shared by every run on this instance, and a fresh group reads from
    the start, so the worker would otherwise replay every earlier run's events during the
    measurement (tens of thousands of records, more every run)."""
    for group, topic in _groups(service).items():
        consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False
        )
        await consumer.start()
        try:
            tps = _partitions(topic)
            consumer.assign(tps)
            ends = await consumer.end_offsets(tps)
            await consumer.commit({tp: OffsetAndMetadata(end, "") for tp, end in ends.items()})
        finally:
            await consumer.stop()


async def wait_caught_up(bootstrap: str, service: str, timeout_s: float = 120.0) -> None:
    """Until every consumer group of ``service`` has committed the end of its topics."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    reader = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await admin.start()
    await reader.start()
    try:
        ends = {
            group: await reader.end_offsets(_partitions(topic))
            for group, topic in _groups(service).items()
        }
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            behind = 0
            for group, end in ends.items():
                committed = await admin.list_consumer_group_offsets(group)
                behind += sum(
                    max(0, offset - (committed[tp].offset if tp in committed else 0))
                    for tp, offset in end.items()
                )
            if behind == 0:
                return
            await asyncio.sleep(0.1)
        raise RuntimeError(f"the worker is still {behind} events behind")
    finally:
        await reader.stop()
        await admin.close()


#: Tenants that install before the measured burst (not measured): more than the API's pool
#: has connections, since the pool hands them out in turn; with several uvicorn workers, each
#: request on its own connection, so that every worker's pool is very likely met in full.
WARM_UP_TENANTS = 24


class CpuMeter:
    """CPU time (user + system) each process spends between creation and ``spent()``: where the
    two cores went. Postgres and Kafka are the servers listening on the given ports (the
    postmaster and its backends; the broker's JVM), not another instance's; the bench is this
    process (load generator, watcher, artifact server). uvicorn's worker processes count with
    their parent (children's times are read too). Linux only."""

    def __init__(self, pids: dict[str, int], *, pg_port: int, kafka_port: int) -> None:
        self.pids = {
            **pids,
            "Postgres": _listening_pid(pg_port),
            "Kafka": _listening_pid(kafka_port),
            "bench": os.getpid(),
        }
        self.start = self._read()

    @staticmethod
    def _ticks(pid: int, *, children: bool = False) -> int:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            return 0
        total = sum(int(x) for x in fields[11:13])
        if children:
            # Live children's times, and those of children that ended and were waited for.
            total += sum(int(x) for x in fields[13:15])
            total += sum(CpuMeter._ticks(int(c), children=True) for c in _children(pid))
        return total

    def _read(self) -> dict[str, int]:
        # The bench's own children are the processes measured; they are not its CPU.
        return {name: self._ticks(pid, children=name != "bench") for name, pid in self.pids.items()}

    def spent(self) -> dict[str, float]:
        now = self._read()
        hz = os.sysconf("SC_CLK_TCK")
        return {k: (now[k] - self.start[k]) / hz for k in now}


def _children(pid: int) -> list[str]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return f.read().split()
    except OSError:
        return []


def _listening_pid(port: int) -> int:
    """The process with a socket listening on ``port`` (from /proc/net/tcp and tcp6: the JVM
    listens on an IPv4-mapped IPv6 address)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as f:
            for line in f.readlines()[1:]:
                fields = line.split()
                local, state, inode = fields[1], fields[3], fields[9]
                if state == "0A" and int(local.rsplit(":", 1)[1], 16) == port:  # 0A: LISTEN
                    inodes.add(f"socket:[{inode}]")
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fds = os.listdir(f"/proc/{entry}/fd")
            if any(os.readlink(f"/proc/{entry}/fd/{fd}") in inodes for fd in fds):
                return int(entry)
        except OSError:
            continue
    raise RuntimeError(f"no process listens on port {port}")


async def bare_writes(url: str, connections: int, tenants: int) -> list[float]:
    """The rows the flow writes for one tenant (2 installations), one plain statement per row
    on raw asyncpg connections, in the same two transactions (request, executor), for every
    tenant at once."""
    times: list[float] = []
    pool = await asyncpg.create_pool(asyncpg_dsn(url), min_size=connections, max_size=connections)
    assert pool is not None

    async def one(i: int) -> None:
        t0 = time.perf_counter()
        tenant = f"bare-{uuid.uuid4().hex[:8]}-{i}"
        inst_ids = [uuid.uuid4(), uuid.uuid4()]
        async with pool.acquire() as conn, conn.transaction():
            await conn.execute("INSERT INTO tenant_plans (tenant_id) VALUES ($1)", tenant)
            for n, iid in enumerate(inst_ids):
                await conn.execute(
                    "INSERT INTO installations (id, tenant_id, plugin_id, slug, version, state,"
                    " sequence, attempt, plan_position, enable_requested, config,"
                    " granted_permissions) VALUES ($1, $2, $3, $4, '1.0.0', 'installing', 1,"
                    " 1, $5, true, '{}', '[]')",
                    *(iid, tenant, uuid.uuid4(), f"s{n}-{tenant}", n),
                )
                await conn.execute(
                    "INSERT INTO installation_history (installation_id, sequence, action,"
                    " from_state, to_state, version) VALUES ($1, 1, 'a', 'a', 'b', '1')",
                    iid,
                )
                await conn.execute(
                    "INSERT INTO consents (tenant_id, installation_id, plugin_id, version,"
                    " permissions, granted_by) VALUES ($1, $2, $3, '1', '[]', 'u')",
                    *(tenant, iid, uuid.uuid4()),
                )
                await conn.execute(
                    "INSERT INTO outbox (event_id, topic, key, bucket, value)"
                    " VALUES ($1, 'bench.bare', $2, 0, $3)",
                    *(str(uuid.uuid4()), tenant, b"x" * 600),
                )
        async with pool.acquire() as conn, conn.transaction():
            for seq, iid in enumerate(inst_ids):
                await conn.execute(
                    "UPDATE installations SET state = 'enabled', sequence = 3 WHERE id = $1", iid
                )
                for s in (2, 3):
                    await conn.execute(
                        "INSERT INTO installation_history (installation_id, sequence, action,"
                        " from_state, to_state, version) VALUES ($1, $2, 'a', 'a', 'b', '1')",
                        *(iid, s),
                    )
                    await conn.execute(
                        "INSERT INTO outbox (event_id, topic, key, bucket, value)"
                        " VALUES ($1, 'bench.bare', $2, 0, $3)",
                        *(str(uuid.uuid4()), f"{tenant}{seq}", b"x" * 600),
                    )
        times.append(time.perf_counter() - t0)

    try:
        await asyncio.gather(*(one(i) for i in range(tenants)))
    finally:
        await pool.close()
    return times


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--tenants", type=int, default=200)
    args = parser.parse_args()
    bench_resolver(args.rounds)
    stack = LocalStack(
        os.environ["OPSCENTER_KAFKA_BOOTSTRAP"],
        os.environ["OPSCENTER_DATABASE_URL"],
        os.environ["OPSCENTER_PG_ADMIN_DSN"],
    )
    asyncio.run(bench_installs(stack, args.tenants))
    asyncio.run(bench_installs(stack, args.tenants, api_workers=2))


if __name__ == "__main__":
    main()
