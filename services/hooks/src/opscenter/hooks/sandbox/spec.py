"""What the dispatcher hands the sandbox (a handler) and what it gets back (an outcome)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

#: Where a handler granted storage finds its folder (context["storage"] for the dispatcher).
STORAGE_PATH = "/storage"

Cause = Literal["ok", "exception", "timeout", "memory", "pids", "cpu", "refused", "crashed"]


@dataclass(frozen=True)
class HandlerSpec:
    """One plugin version's handler; every spec with the same ``pool_key`` shares warm workers."""

    pool_key: str  # one warm pool per plugin version, e.g. f"{plugin_id}@{version}"
    package_dir: Path  # the unpacked, digest- and signature-verified package (bound read-only)
    entrypoint: str  # "module:function" from the manifest, importable from package_dir
    network: bool  # the installation was granted network:outbound
    storage_dir: Path | None  # persistent per-installation folder (None: only the private tmpfs)
    storage_writable: bool  # storage:write (True) or storage:read only (False)
    storage_quota_bytes: int  # enforced on writes to storage_dir


@dataclass(frozen=True)
class HandlerOutcome:
    """The result of one call; ``cause`` is "ok" exactly when ``ok`` is true."""

    ok: bool
    cause: Cause  # "ok" when ok; otherwise why it failed or was stopped
    result: Any  # JSON-compatible return value of the handler (None if not ok)
    error: str | None  # short, secret-free description (exception type + message, or the cause)
    latency_ms: float
