"""Operator settings of the sandbox (env prefix ``HOOKS_SANDBOX_``)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from opscenter.contracts.hook_events import HANDLER_DEADLINE_S, HANDLER_START_TIMEOUT_S


class SandboxSettings(BaseSettings):
    """Limits of every sandboxed worker; one worker slot = one dedicated non-root uid."""

    model_config = SettingsConfigDict(env_prefix="HOOKS_SANDBOX_", extra="ignore")

    #: Warm workers kept per pool (one pool per plugin version, ``HandlerSpec.pool_key``).
    workers_per_pool: int = Field(default=1, ge=1, le=64)
    #: Pools kept warm at once; the least recently used pool is closed to make room.
    max_pools: int = Field(default=32, ge=1)
    #: Per-event wall-clock deadline; past it the worker's process group is killed.
    deadline_s: float = Field(default=HANDLER_DEADLINE_S, gt=0)
    #: A worker is replaced after this many events (bounds leaks and state carried over).
    max_events_per_worker: int = Field(default=1000, ge=1)
    #: A worker whose resident set exceeds this after an event is replaced.
    max_rss_mb: int = Field(default=256, ge=16)
    #: Address-space rlimit (and cgroup memory limit where available) of a worker.
    memory_mb: int = Field(default=512, ge=64)
    #: RLIMIT_NPROC of a worker's uid (and cgroup pids limit where available).
    nproc: int = Field(default=32, ge=1)
    #: RLIMIT_NOFILE of a worker.
    nofile: int = Field(default=64, ge=16)
    #: RLIMIT_FSIZE of a worker: the largest file it may write.
    fsize_mb: int = Field(default=16, ge=1)
    #: Size of the private tmpfs mounted at /tmp in the sandbox.
    tmpfs_mb: int = Field(default=16, ge=1)
    #: Lifetime CPU seconds of one worker (RLIMIT_CPU); not the per-event limit.
    cpu_s: int = Field(default=600, ge=1)
    #: Operator setting: may a network-granted handler connect to loopback (127.0.0.0/8, ::1)?
    allow_loopback: bool = False
    #: First of the dedicated non-root uids: each live worker runs as one of its own from
    #: uid_base .. uid_base + uid_count - 1 (numeric, no account; freed uids are reused last).
    uid_base: int = Field(default=61000, ge=1000)
    #: How many uids from uid_base are reserved; must cover max_pools * (workers_per_pool + 1).
    uid_count: int = Field(default=256, ge=1)
    #: bubblewrap binary.
    bwrap_path: str = "bwrap"
    #: The sandbox's interpreter: Debian's, for its python3-seccomp binding (stdlib only).
    python_path: str = "/usr/bin/python3"
    #: CPU share of one worker through the cgroup cpu controller (1.0 = one core).
    cpu_fraction: float = Field(default=1.0, gt=0)
    #: Seconds a fresh worker has to import the handler and answer ready.
    start_timeout_s: float = Field(default=HANDLER_START_TIMEOUT_S, gt=0)
    #: Largest frame (event in, result out) in bytes.
    max_frame_bytes: int = Field(default=1024 * 1024, ge=1024)
