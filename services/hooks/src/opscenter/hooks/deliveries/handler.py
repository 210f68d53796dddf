"""Makes one attempt by sandboxed Python handler: the package, the sandbox's shape, the context.

- The handler imports from its version's package, checked and unpacked by ``HandlerPackages``
  (digest and publisher signature); a package that cannot be used fails the attempt with
  cause ``package`` (retried: a key or version may still be on its way).
- The sandbox's shape follows the grant: ``network:outbound`` opens inet sockets;
  ``storage:write`` mounts the installation's folder writable (quota from the settings),
  ``storage:read`` the same folder read-only, neither no folder at all.
- The context holds the installation, tenant, plugin, granted permissions and a fresh
  installation token; ``storage`` (the folder's path inside the sandbox) only when granted;
  ``config``, the installation's config with its secret values in plain (opened from the box
  the installer sealed to this service, per attempt: plaintext secrets live only in this call
  and the sandbox, never in a row, a log or an attempt's error). A box that does not open
  fails the attempt with cause ``config`` (retried: the key may be fixed meanwhile).
  The event is the message the webhook would carry, trimmed to the grant the same way.
- A timeout, a kill or an exception is a failed attempt, retried on the schedule like any.
- An attempt waits for a free worker of its sandbox only as long as its lease leaves room for
  the deadline: past the lease another claim would attempt the delivery a second time. One
  that cannot start in time fails with cause ``busy`` (and is retried on the schedule).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from prometheus_client import Counter

from opscenter.contracts.config_schema import join_secrets
from opscenter.contracts.permissions import covers
from opscenter.hooks.deliveries.policy import AttemptResult
from opscenter.hooks.deliveries.service import Work
from opscenter.hooks.packages import HandlerPackages
from opscenter.hooks.sandbox import STORAGE_PATH, HandlerSpec, SandboxPool, SandboxSettings
from opscenter.servicekit.artifacts import ArtifactError
from opscenter.servicekit.sealing import Opener, SealError

SANDBOX_OUTCOMES = Counter(
    "hooks_sandbox_outcomes_total", "Handler attempts by the sandbox's cause", ["cause"]
)
#: Causes for which the sandbox stopped the handler's worker (it is replaced).
KILL_CAUSES = frozenset({"timeout", "memory", "pids", "cpu", "crashed"})
SANDBOX_KILLS = Counter("hooks_sandbox_kills_total", "Sandbox workers killed, by cause", ["cause"])


class HandlerRunner:
    def __init__(
        self,
        packages: HandlerPackages,
        sandbox: SandboxSettings,
        storage_root: Path,
        storage_quota_bytes: int,
        config_key: Opener,
    ) -> None:
        self._packages = packages
        self._config_key = config_key
        self._sandbox = sandbox
        self._pool = SandboxPool(sandbox)
        #: Calls per sandbox shape, as many as its pool has workers: waiting happens here,
        #: where it is bounded by the lease, not inside the pool.
        self._slots: dict[HandlerSpec, asyncio.Semaphore] = {}
        self._started: asyncio.Task[None] | None = None
        self._storage_root = storage_root.absolute()
        self._quota = storage_quota_bytes

    async def close(self) -> None:
        if self._started is not None:
            if not self._started.done() or self._started.exception() is None:
                await self._pool.close()
            self._started = None

    def stats(self) -> dict[str, int]:
        return self._pool.stats()

    async def attempt(self, work: Work, token: str) -> AttemptResult:
        started = time.perf_counter()

        def failed(cause: str, error: str) -> AttemptResult:
            SANDBOX_OUTCOMES.labels(cause).inc()
            latency_ms = (time.perf_counter() - started) * 1000
            return AttemptResult(
                "failed", None, f"{cause}: {error}"[:2000], latency_ms, None, cause
            )

        assert work.handler is not None
        if work.package is None:
            return failed("package", f"version {work.version} is not known to hooks yet")
        try:
            folder = await self._packages.folder(work.package)
        except ArtifactError as exc:
            return failed("package", str(exc))
        try:
            await self._start()
        except (OSError, RuntimeError) as exc:
            return failed("refused", f"the sandbox is unavailable: {exc}")
        try:
            context = self._context(work, token)
        except SealError as exc:
            return failed("config", str(exc))
        spec = self._spec(work, folder)
        slots = self._slots_of(spec)
        if slots.locked():  # (a free slot is taken at once, whatever the budget says)
            try:
                await asyncio.wait_for(slots.acquire(), self._wait_budget_s(work))
            except TimeoutError:
                return failed("busy", "no sandbox worker was free in time for the lease")
        else:
            await slots.acquire()
        try:
            outcome = await self._pool.call(spec, work.message, context)
        except ValueError as exc:  # an entrypoint or package the pool cannot take
            return failed("refused", str(exc))
        finally:
            slots.release()
        SANDBOX_OUTCOMES.labels(outcome.cause).inc()
        if outcome.cause in KILL_CAUSES:
            SANDBOX_KILLS.labels(outcome.cause).inc()
        if outcome.ok:
            return AttemptResult("succeeded", None, None, outcome.latency_ms, None, "ok")
        error = f"{outcome.cause}: {outcome.error or outcome.cause}"[:2000]
        return AttemptResult("failed", None, error, outcome.latency_ms, None, outcome.cause)

    async def _start(self) -> None:
        """Starts the pool on the first handler attempt (a webhook-only dispatcher needs no
        bubblewrap); a failed start is tried again by the next attempt."""
        if self._started is None or (self._started.done() and self._started.exception()):
            self._started = asyncio.ensure_future(self._pool.start())
        await asyncio.shield(self._started)

    def _slots_of(self, spec: HandlerSpec) -> asyncio.Semaphore:
        shape = dataclasses.replace(spec, entrypoint="")  # the pool's own key
        if shape not in self._slots:
            if len(self._slots) >= 4 * self._sandbox.max_pools:
                # Forget idle shapes (as the pool evicts idle pools); one in use is kept.
                self._slots = {k: v for k, v in self._slots.items() if v.locked()}
            size = 1 if spec.storage_writable and spec.storage_dir else None
            self._slots[shape] = asyncio.Semaphore(size or self._sandbox.workers_per_pool)
        return self._slots[shape]

    def _wait_budget_s(self, work: Work) -> float:
        """Seconds left for waiting: the lease's remainder less the deadline and a margin for
        recording the result."""
        if work.leased_until is None:
            return self._sandbox.deadline_s
        left = (work.leased_until - datetime.now(UTC)).total_seconds()
        return max(0.0, left - self._sandbox.deadline_s - 1.0)

    def _spec(self, work: Work, folder: Path) -> HandlerSpec:
        writable = covers(work.granted, "storage:write")
        readable = writable or covers(work.granted, "storage:read")
        assert work.package is not None
        return HandlerSpec(
            # One warm pool per plugin version (and package, should a digest ever change).
            pool_key=f"{work.plugin_id}@{work.version}#{work.package.digest[:16]}",
            package_dir=folder,
            entrypoint=work.handler or "",
            network=covers(work.granted, "network:outbound"),
            storage_dir=self._storage_root / str(work.installation_id) if readable else None,
            storage_writable=writable,
            storage_quota_bytes=self._quota if readable else 0,
        )

    def _config(self, work: Work) -> dict[str, Any]:
        """The installation's config as the handler reads it: the clear values with the sealed
        secrets opened into their dotted paths. Raises ``SealError`` (naming keys, no values)."""
        sealed = work.sealed_secrets
        if not sealed:
            return dict(work.config)
        if sealed.get("key_id") != self._config_key.key_id:
            raise SealError(
                f"the config's secrets are sealed to key {sealed.get('key_id')}, this "
                f"dispatcher holds {self._config_key.key_id} (HOOKS_CONFIG_PRIVATE_KEY)"
            )
        opened = self._config_key.open(str(sealed["box"]), str(work.installation_id).encode())
        try:
            secrets = json.loads(opened)
        except ValueError:
            raise SealError("the config's sealed secrets are not JSON") from None
        if not isinstance(secrets, dict):
            raise SealError("the config's sealed secrets are not an object")
        return join_secrets(work.config, secrets)

    def _context(self, work: Work, token: str) -> dict[str, Any]:
        context: dict[str, Any] = {
            "delivery_id": str(work.delivery_id),
            "attempt": work.attempt,
            "installation_id": str(work.installation_id),
            "tenant_id": work.tenant_id,
            "plugin_id": str(work.plugin_id),
            "permissions": sorted(work.granted),
            "token": token,
            "config": self._config(work),
        }
        if covers(work.granted, "storage:read"):
            context["storage"] = STORAGE_PATH
        return context
