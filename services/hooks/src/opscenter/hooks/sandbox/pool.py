"""The supervisor: warm sandboxed workers per pool key, one call at a time per worker."""

from __future__ import annotations

from typing import Any

from opscenter.hooks.sandbox.settings import SandboxSettings
from opscenter.hooks.sandbox.spec import HandlerOutcome, HandlerSpec


class SandboxPool:
    """Runs handlers in warm bubblewrap workers; ``call`` never raises for the handler's doing."""

    def __init__(self, settings: SandboxSettings) -> None:
        self._settings = settings

    async def start(self) -> None:
        """Detect bwrap, seccomp and cgroups v1/v2; log what is absent."""
        raise NotImplementedError

    async def close(self) -> None:
        """Kill every worker and reap."""
        raise NotImplementedError

    async def call(
        self,
        spec: HandlerSpec,
        event: dict[str, Any],
        context: dict[str, Any],
        *,
        deadline_s: float | None = None,
    ) -> HandlerOutcome:
        """Run ``spec``'s handler on ``event`` in a warm worker of its pool."""
        raise NotImplementedError

    def stats(self) -> dict[str, int]:
        """Counters for Prometheus: workers, kills by cause, respawns."""
        raise NotImplementedError
