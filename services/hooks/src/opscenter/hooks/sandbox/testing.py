"""Helpers for tests that run handlers in the real sandbox (this package's and the dispatcher's)."""

from __future__ import annotations

import contextlib
import dataclasses
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from opscenter.hooks.sandbox.pool import SandboxPool
from opscenter.hooks.sandbox.settings import SandboxSettings
from opscenter.hooks.sandbox.spec import HandlerSpec


def uid_base_for_tests(block: int) -> int:
    """A uid range of this checkout's own (by STACK_PORT_OFFSET): parallel runs on one machine
    never share a uid, and so never share RLIMIT_NPROC's count. ``block`` separates test modules.
    """
    return 610_000 + int(os.environ.get("STACK_PORT_OFFSET", "0")) + block


def write_package(root: Path, name: str, files: dict[str, str]) -> Path:
    """A package folder the slot uids can read (dirs o+rx, files o+r), as unpacked packages are."""
    package = root / name
    package.mkdir(parents=True)
    package.chmod(0o755)
    for relative, text in files.items():
        (package / relative).write_text(text)
        (package / relative).chmod(0o644)
    return package


def handler_spec(package: Path, function: str, **overrides: Any) -> HandlerSpec:
    """``handlers:<function>`` of ``package``, without network or storage unless overridden."""
    spec = HandlerSpec(
        pool_key=f"{package.name}@1.0.0",
        package_dir=package,
        entrypoint=f"handlers:{function}",
        network=False,
        storage_dir=None,
        storage_writable=False,
        storage_quota_bytes=0,
    )
    return dataclasses.replace(spec, **overrides)


@contextlib.asynccontextmanager
async def open_pool(**settings: Any) -> AsyncIterator[SandboxPool]:
    """A started pool with these settings, closed (every worker killed) on the way out."""
    pool = SandboxPool(SandboxSettings(**settings))
    await pool.start()
    try:
        yield pool
    finally:
        await pool.close()
