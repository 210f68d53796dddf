"""The host side of the sandbox on this machine: cgroups found and used, orphans reaped."""

from __future__ import annotations

import asyncio
import ctypes
import os
import signal
import textwrap
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from opscenter.hooks.sandbox import HandlerSpec, SandboxPool, SandboxSettings
from opscenter.hooks.sandbox.host import CGROUP_PARENT, CGROUP_ROOT, detect_cgroups
from opscenter.hooks.sandbox.testing import open_pool, uid_base_for_tests

UID_BASE = uid_base_for_tests(200)
MIB = 1024 * 1024
PR_GET_CHILD_SUBREAPER = 37


@pytest.fixture(scope="module")
def package(tmp_path_factory: pytest.TempPathFactory) -> Path:
    package = tmp_path_factory.mktemp("host-packages") / "probe"
    package.mkdir(mode=0o755)
    (package / "handlers.py").write_text(
        textwrap.dedent(
            """
            import os

            def whoami(event, context):
                return {"uid": os.getuid(), "cgroup": open("/proc/self/cgroup").read()}
            """
        )
    )
    (package / "handlers.py").chmod(0o644)
    return package


@pytest.fixture(scope="module")
async def pool() -> AsyncIterator[SandboxPool]:
    sandbox = SandboxPool(
        SandboxSettings(uid_base=UID_BASE, uid_count=8, max_pools=2, memory_mb=256, nproc=20)
    )
    await sandbox.start()
    yield sandbox
    await sandbox.close()


def worker_cgroups(uid: int) -> list[Path]:
    if (CGROUP_ROOT / "cgroup.controllers").is_file():
        return list((CGROUP_ROOT / CGROUP_PARENT).glob(f"w{uid}-*"))
    return sorted(CGROUP_ROOT.glob(f"*/{CGROUP_PARENT}/w{uid}-*"))


def test_this_machines_cgroups_are_detected() -> None:
    cgroups = detect_cgroups(is_root=os.geteuid() == 0)

    if (CGROUP_ROOT / "cgroup.controllers").is_file():
        assert (cgroups.version, list(cgroups.controllers)) == (2, ["unified"])
    else:
        assert cgroups.version == 1
        assert sorted(cgroups.controllers) == ["cpu", "memory", "pids"]


async def test_a_worker_runs_inside_its_own_limited_cgroups(pool: SandboxPool, package: Path):
    spec = HandlerSpec("probe@1", package, "handlers:whoami", False, None, False, 0)

    outcome = await pool.call(spec, {}, {})

    assert outcome.ok, outcome
    groups = worker_cgroups(outcome.result["uid"])
    assert groups, "the worker has no cgroup"
    limits = {}
    for group in groups:
        procs = (group / "cgroup.procs").read_text().split()
        assert len(procs) >= 2  # bubblewrap and the sandboxed interpreter at least
        for name in ("memory.limit_in_bytes", "memory.max", "pids.max"):
            if (group / name).exists():
                limits[name] = (group / name).read_text().strip()
    assert limits.get("memory.limit_in_bytes", limits.get("memory.max")) == str(256 * MIB)
    assert limits["pids.max"] == "20"
    # The cgroup namespace hides the host's hierarchy from the handler.
    assert CGROUP_PARENT not in outcome.result["cgroup"]


async def test_cgroups_of_closed_workers_are_removed(package: Path):
    spec = HandlerSpec("probe@1", package, "handlers:whoami", False, None, False, 0)
    async with open_pool(uid_base=UID_BASE + 4, uid_count=4, max_pools=2) as sandbox:
        outcome = await sandbox.call(spec, {}, {})

    assert outcome.ok
    assert worker_cgroups(outcome.result["uid"]) == []


async def test_orphans_from_a_pid_namespace_are_adopted_and_reaped(pool: SandboxPool):
    """The supervisor is a subreaper: a namespace whose parent died is re-parented to it."""
    parent = await asyncio.create_subprocess_exec("unshare", "--pid", "--fork", "sleep", "1")
    orphan = await _child_of(parent.pid)
    parent.send_signal(signal.SIGKILL)
    await parent.wait()

    assert await _wait_for(lambda: _ppid(orphan) == os.getpid())  # adopted by the supervisor
    assert await _wait_for(lambda: not Path(f"/proc/{orphan}").exists(), timeout_s=10)
    assert pool.stats().get("orphans_reaped", 0) >= 1


async def _child_of(pid: int) -> int:
    for _ in range(100):
        children = _children(pid)
        if children:
            return int(children[0])
        await asyncio.sleep(0.02)
    raise AssertionError("unshare started no child")


def _children(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return []


def _ppid(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("PPid:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


async def _wait_for(condition, timeout_s: float = 5.0) -> bool:  # type: ignore[no-untyped-def]
    for _ in range(int(timeout_s / 0.05)):
        if condition():
            return True
        await asyncio.sleep(0.05)
    return condition()


async def test_the_process_is_a_subreaper_only_while_a_pool_is_open(package: Path):
    before = _is_subreaper()
    async with open_pool(uid_base=UID_BASE + 4, uid_count=4, max_pools=2):
        during = _is_subreaper()

    assert during
    assert _is_subreaper() == before  # the module's pool still holds it, or nobody does


def _is_subreaper() -> bool:
    flag = ctypes.c_int(0)
    assert ctypes.CDLL(None).prctl(PR_GET_CHILD_SUBREAPER, ctypes.byref(flag), 0, 0, 0) == 0
    return flag.value == 1
