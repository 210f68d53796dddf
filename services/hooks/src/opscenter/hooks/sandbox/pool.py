"""The supervisor: warm sandboxed workers per handler, one call at a time per worker.

Workers are kept per *sandbox shape*: the ``HandlerSpec`` but its entrypoint (a worker serves
every handler of its plugin version). A plugin version's installations share warm workers when
their grants (network, storage folder) match; a different grant is a different sandbox, never
a re-used one. A worker is replaced after a deadline kill, a crash, a memory, pids or cpu
outcome (a fresh one is spawned at once), and after N events or an RSS threshold (it serves on
until its successor is warm, so no call waits for a start). See ADR 0015.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import logging
import os
import signal
import time
from collections import OrderedDict
from pathlib import Path
from typing import Any, cast, get_args

from opscenter.hooks.sandbox import host
from opscenter.hooks.sandbox.command import STORAGE_DIR, build_command
from opscenter.hooks.sandbox.settings import SandboxSettings
from opscenter.hooks.sandbox.shim import FrameError, encode_frame
from opscenter.hooks.sandbox.spec import Cause, HandlerOutcome, HandlerSpec
from opscenter.hooks.sandbox.storage import generation, persist, sandbox_storage
from opscenter.hooks.sandbox.worker import Reply, Worker

logger = logging.getLogger("opscenter.hooks.sandbox")

#: Outcomes after which the worker is not trusted with another event.
_REPLACE_AFTER = frozenset({"timeout", "memory", "pids", "cpu", "crashed"})
_REAP_INTERVAL_S = 1.0


class _Pool:
    """The workers of one sandbox shape: in use + idle + warming <= workers_per_pool."""

    def __init__(self, spec: HandlerSpec, size: int) -> None:
        self.spec = spec
        self.slots = asyncio.Semaphore(size)
        self.idle: list[Worker] = []
        self.warming: list[asyncio.Task[Worker | Reply]] = []
        self.in_use = 0  # calls holding a worker
        self.callers = 0  # calls waiting for or holding one: the pool is not evicted meanwhile


class SandboxPool:
    """Runs handlers in warm bubblewrap workers; ``call`` never raises for the handler's doing."""

    def __init__(self, settings: SandboxSettings) -> None:
        if settings.max_pools * (settings.workers_per_pool + 1) > settings.uid_count:
            # + 1: a worker due for recycling serves on while its successor starts.
            raise ValueError("max_pools * (workers_per_pool + 1) exceeds uid_count")
        self._settings = settings
        self._pools: OrderedDict[HandlerSpec, _Pool] = OrderedDict()
        self._free_uids = collections.deque(
            range(settings.uid_base, settings.uid_base + settings.uid_count)
        )
        self._counters: collections.Counter[str] = collections.Counter()
        self._spawned = 0
        self._is_root = os.geteuid() == 0
        self._bwrap: Path | None = None
        self._interpreter: host.Interpreter | None = None
        self._cgroups = host.Cgroups(version=None)
        self._reaper: asyncio.Task[None] | None = None
        self._draining: set[asyncio.Task[None]] = set()
        self._stale_cgroups: set[str] = set()

    async def start(self) -> None:
        """Detect bwrap, the interpreter with seccomp, and cgroups v1/v2; log what is absent."""
        self._bwrap = host.find_bwrap(self._settings.bwrap_path)
        interpreter = await asyncio.to_thread(host.probe_interpreter, self._settings.python_path)
        self._interpreter = interpreter
        self._cgroups = host.detect_cgroups(self._is_root)
        uids = range(self._settings.uid_base, self._settings.uid_base + self._settings.uid_count)
        self._stale_cgroups = self._cgroups.leftovers(uids)
        if not host.become_subreaper():
            logger.warning("sandbox: PR_SET_CHILD_SUBREAPER failed; orphans go to init")
        if not self._is_root:
            logger.warning(
                "sandbox: not root: one unprivileged user namespace per worker, no uid per slot"
            )
        self._reaper = asyncio.create_task(self._reap_forever())
        logger.info(
            "sandbox: bwrap %s, python %s, cgroups %s",
            self._bwrap,
            interpreter.executable,
            f"v{self._cgroups.version}" if self._cgroups.version else "absent",
        )

    async def close(self) -> None:
        """Kill every worker and reap."""
        pools, self._pools = list(self._pools.values()), OrderedDict()
        await asyncio.gather(*(self._drain(pool) for pool in pools))
        if self._reaper is not None:
            self._reaper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reaper
            self._reaper = None
            host.release_subreaper()
        host.reap_orphans()
        for _ in range(20):  # a killed worker's processes take a moment to leave its groups
            self._remove_stale_cgroups()
            if not self._stale_cgroups:
                break
            await asyncio.sleep(0.05)

    async def call(
        self,
        spec: HandlerSpec,
        event: dict[str, Any],
        context: dict[str, Any],
        *,
        deadline_s: float | None = None,
    ) -> HandlerOutcome:
        """Run ``spec``'s handler on ``event`` in a warm worker of its sandbox shape."""
        started = time.perf_counter()
        _check_spec(spec)
        if self._bwrap is None:
            raise RuntimeError("SandboxPool.start() was not awaited")
        try:
            request = {"entrypoint": spec.entrypoint, "event": event, "context": context}
            frame = encode_frame(request, self._settings.max_frame_bytes)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"event and context must be JSON: {exc}") from None
        except FrameError as exc:
            return self._outcome(Reply(ok=False, cause="refused", error=str(exc)), started)
        pool = self._pool_for(dataclasses.replace(spec, entrypoint=""))
        pool.callers += 1
        try:
            async with pool.slots:
                pool.in_use += 1
                try:
                    reply = await self._call_in(
                        pool, frame, deadline_s or self._settings.deadline_s
                    )
                finally:
                    pool.in_use -= 1
        finally:
            pool.callers -= 1
        return self._outcome(reply, started)

    def stats(self) -> dict[str, int]:
        """Counters for Prometheus: workers, pools, spawns, respawns, kills, outcomes by cause.

        Every key is present from the start (zero), so a scrape sees a stable set of series.
        """
        workers = sum(len(p.idle) + len(p.warming) + p.in_use for p in self._pools.values())
        counters = dict.fromkeys(_COUNTERS, 0) | self._counters
        return {"workers": workers, "pools": len(self._pools), "spawns": self._spawned, **counters}

    # ------------------------------------------------------------------ one call

    async def _call_in(self, pool: _Pool, frame: bytes, deadline_s: float) -> Reply:
        worker_or_failure = await self._take(pool)
        if isinstance(worker_or_failure, Reply):
            return worker_or_failure
        worker = worker_or_failure
        reply = await worker.call(frame, deadline_s)
        if reply.cause in ("timeout", "crashed") or not worker.alive:
            await self._retire(worker)
            reply = self._death_cause(worker, reply)
        elif _has_writable_storage(pool.spec):
            await self._persist(pool.spec, worker)
        await self._after_call(pool, worker, reply)
        return reply

    async def _take(self, pool: _Pool) -> Worker | Reply:
        """An idle worker, else a warming one, else a new one (the caller holds a slot)."""
        while pool.idle:
            worker = pool.idle.pop()
            if worker.alive and not self._stale_seed(pool.spec, worker):
                return worker
            await self._retire(worker)
        if pool.warming:
            return await pool.warming.pop(0)
        return await self._spawn(pool.spec)

    async def _after_call(self, pool: _Pool, worker: Worker, reply: Reply) -> None:
        """Keep the worker warm, or replace it; a sound one serves on until its successor is up."""
        if not worker.alive or reply.cause in _REPLACE_AFTER:
            if worker.alive:
                self._counters[f"kills_{reply.cause}"] += 1
                await self._retire(worker)
            if worker.successor is None:  # else the successor already on its way takes over
                self._respawn(pool)
        elif worker.successor is not None:
            if worker.successor.done():
                await self._retire(worker)
            else:
                pool.idle.append(worker)
        elif self._keeps(worker):
            pool.idle.append(worker)
        elif _has_writable_storage(pool.spec):
            # Its successor's seed must hold every event it handled: replace it only now.
            self._counters["recycled"] += 1
            await self._retire(worker)
            self._respawn(pool)
        else:
            self._counters["recycled"] += 1
            worker.successor = asyncio.create_task(self._succeed(pool, worker))
            pool.idle.append(worker)

    def _respawn(self, pool: _Pool) -> None:
        self._counters["respawns"] += 1
        pool.warming.append(asyncio.create_task(self._spawn(pool.spec)))

    async def _succeed(self, pool: _Pool, old: Worker) -> None:
        """Start ``old``'s successor; retire ``old`` now if idle, else when its call ends."""
        new = await self._spawn(pool.spec)
        if isinstance(new, Reply):
            old.successor = None  # none could start: the old one serves on, retried later
            return
        pool.idle.append(new)
        if old in pool.idle:
            pool.idle.remove(old)
            await self._retire(old)

    def _stale_seed(self, spec: HandlerSpec, worker: Worker) -> bool:
        """A writable folder persisted by another dispatcher since ``worker`` was seeded: its
        tmpfs lacks those changes (their lanes keep the two from running at once)."""
        if not _has_writable_storage(spec) or worker.seed == _generation_of(spec):
            return False
        self._counters["storage_reseeds"] += 1
        return True

    def _keeps(self, worker: Worker) -> bool:
        if worker.events >= self._settings.max_events_per_worker:
            return False
        return worker.rss_kb <= self._settings.max_rss_mb * 1024

    def _death_cause(self, worker: Worker, reply: Reply) -> Reply:
        """A worker that died mid-event: say why, from its signal and its cgroup."""
        if reply.cause == "timeout":
            self._counters["kills_timeout"] += 1
            return reply
        if self._cgroups.oom_killed(worker.name):
            cause: Cause = "memory"
        elif worker.exit_signal() == signal.SIGXCPU:
            cause = "cpu"
        else:
            cause = "crashed"
        self._counters[f"kills_{cause}"] += 1
        detail = f"the worker died (exit status {worker.process.returncode})"
        return Reply(ok=False, cause=cause, error=detail)

    async def _persist(self, spec: HandlerSpec, worker: Worker) -> None:
        assert spec.storage_dir is not None
        assert worker.sandbox_pid is not None
        source = sandbox_storage(worker.sandbox_pid, STORAGE_DIR)
        try:
            await asyncio.to_thread(persist, source, spec.storage_dir, spec.storage_quota_bytes)
            worker.seed = generation(spec.storage_dir)
        except Exception:  # a hostile tree or a full disk must not stop the supervisor
            logger.exception("sandbox: storage of %s not persisted", spec.pool_key)
            self._counters["storage_persist_failures"] += 1

    # ------------------------------------------------------------------ workers

    async def _spawn(self, spec: HandlerSpec) -> Worker | Reply:
        """A started, ready worker, or the Reply saying why there is none."""
        assert self._bwrap is not None
        assert self._interpreter is not None
        if not self._free_uids:
            return Reply(
                ok=False, cause="refused", error="sandbox capacity exhausted (no free uid)"
            )
        uid = self._free_uids.popleft()
        self._spawned += 1
        name = f"w{uid}-{os.getpid()}-{self._spawned}"
        settings = self._settings
        if spec.storage_dir is not None:
            spec.storage_dir.mkdir(parents=True, exist_ok=True)
        seed = _generation_of(spec)  # read before the copy: never newer than what it seeds
        procs = self._cgroups.create(
            name, settings.memory_mb * 1024 * 1024, settings.nproc, settings.cpu_fraction
        )
        info_pipe = os.pipe()
        command = build_command(
            spec,
            settings,
            bwrap=self._bwrap,
            interpreter=self._interpreter,
            uid=uid if self._is_root else None,
            cgroup_procs=procs,
            info_fd=info_pipe[1],
        )
        try:
            worker = await Worker.spawn(
                command.argv, info_pipe, name=name, uid=uid, max_frame=settings.max_frame_bytes
            )
        except OSError as exc:
            self._release(name, uid)
            return Reply(ok=False, cause="crashed", error=f"the sandbox did not start: {exc}")
        ready = await worker.ready(settings.start_timeout_s)
        if not ready.ok:
            await self._retire(worker)
            if ready.cause == "crashed":
                ready = self._death_cause(worker, ready)
            return ready
        worker.seed = seed
        return worker

    async def _retire(self, worker: Worker) -> None:
        """Kill the worker's session (and so its namespace), reap, give back its uid."""
        await worker.kill()
        host.reap_orphans()
        self._release(worker.name, worker.uid)

    def _release(self, name: str, uid: int | None) -> None:
        if not self._cgroups.remove(name):
            self._stale_cgroups.add(name)  # the reaper loop retries
        if uid is not None and uid not in self._free_uids:
            self._free_uids.append(uid)  # to the back: its last processes have time to go

    def _pool_for(self, spec: HandlerSpec) -> _Pool:
        pool = self._pools.get(spec)
        if pool is not None:
            self._pools.move_to_end(spec)
            return pool
        if len(self._pools) >= self._settings.max_pools:
            self._evict_one()
        size = 1 if _has_writable_storage(spec) else None
        pool = _Pool(spec, size or self._settings.workers_per_pool)
        self._pools[spec] = pool
        return pool

    def _evict_one(self) -> None:
        """Close the least recently used pool that has no call in flight."""
        for spec, pool in self._pools.items():
            if pool.callers == 0:
                del self._pools[spec]
                self._counters["pools_evicted"] += 1
                task = asyncio.create_task(self._drain(pool))
                self._draining.add(task)
                task.add_done_callback(self._draining.discard)
                return

    async def _drain(self, pool: _Pool) -> None:
        await asyncio.gather(*(w.successor for w in pool.idle if w.successor is not None))
        warming, pool.warming = pool.warming, []
        for task in warming:
            result = await task
            if isinstance(result, Worker):
                pool.idle.append(result)
        idle, pool.idle = pool.idle, []
        await asyncio.gather(*(self._retire(worker) for worker in idle))

    async def _reap_forever(self) -> None:
        while True:
            await asyncio.sleep(_REAP_INTERVAL_S)
            self._counters["orphans_reaped"] += host.reap_orphans()
            self._remove_stale_cgroups()

    def _remove_stale_cgroups(self) -> None:
        self._stale_cgroups = {n for n in self._stale_cgroups if not self._cgroups.remove(n)}

    def _outcome(self, reply: Reply, started: float) -> HandlerOutcome:
        latency_ms = (time.perf_counter() - started) * 1000
        self._counters[f"outcomes_{reply.cause}"] += 1
        if reply.ok:
            return HandlerOutcome(
                ok=True, cause="ok", result=reply.result, error=None, latency_ms=latency_ms
            )
        cause = cast(Cause, reply.cause) if reply.cause in _CAUSES else "crashed"
        error = reply.error or cause
        return HandlerOutcome(
            ok=False, cause=cause, result=None, error=error, latency_ms=latency_ms
        )


_CAUSES: tuple[str, ...] = get_args(Cause)
_COUNTERS = (
    *(f"outcomes_{cause}" for cause in _CAUSES),
    *(f"kills_{cause}" for cause in sorted(_REPLACE_AFTER)),
    "recycled",
    "respawns",
    "orphans_reaped",
    "pools_evicted",
    "storage_persist_failures",
    "storage_reseeds",
)


def _has_writable_storage(spec: HandlerSpec) -> bool:
    return spec.storage_dir is not None and spec.storage_writable


def _generation_of(spec: HandlerSpec) -> str | None:
    return generation(spec.storage_dir) if spec.storage_dir is not None else None


def _check_spec(spec: HandlerSpec) -> None:
    """Programming errors of the caller (not the plugin's doing) raise ValueError."""
    module, sep, function = spec.entrypoint.partition(":")
    if (
        not sep
        or not module
        or not function
        or not all(part.isidentifier() for part in (*module.split("."), *function.split(".")))
    ):
        raise ValueError(f"entrypoint {spec.entrypoint!r} is not 'module:function'")
    if not spec.package_dir.is_absolute() or not spec.package_dir.is_dir():
        raise ValueError(f"package_dir {spec.package_dir} is not an existing absolute folder")
    if spec.storage_dir is not None and not spec.storage_dir.is_absolute():
        raise ValueError(f"storage_dir {spec.storage_dir} is not absolute")
    if spec.storage_quota_bytes < 0:
        raise ValueError("storage_quota_bytes must not be negative")
    if not spec.pool_key:
        raise ValueError("pool_key must not be empty")
