"""What the host offers the sandbox: bwrap, the interpreter and seccomp, cgroups; orphan reaping.

Detected once at start; the supervisor logs each absent piece so an operator knows which limit
holds only through rlimits.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import logging
import os
import shutil
import signal
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

logger = logging.getLogger("opscenter.hooks.sandbox")

PR_SET_CHILD_SUBREAPER = 36
CGROUP_ROOT = Path("/sys/fs/cgroup")
#: Parent cgroup of every worker; one child cgroup per live worker.
CGROUP_PARENT = "opscenter-sandbox"

_PROBE = (
    "import json, sys, sysconfig\n"
    "sys.path.append('/usr/lib/python3/dist-packages')\n"
    "import seccomp\n"
    "print(json.dumps({'executable': sys.executable, 'stdlib': sysconfig.get_paths()['stdlib'],"
    " 'multiarch': sysconfig.get_config_var('MULTIARCH') or '', 'seccomp': seccomp.__file__}))"
)


class SandboxUnavailable(RuntimeError):
    """The host lacks what the sandbox cannot run without (bwrap, the interpreter, seccomp)."""


@dataclass(frozen=True)
class Interpreter:
    """The sandbox's Python: what must be bound read-only for it to start and load seccomp."""

    executable: Path
    stdlib: Path
    library_dirs: tuple[Path, ...]
    seccomp_module: Path


@dataclass
class Cgroups:
    """Per-worker cgroups (v1: one hierarchy per controller; v2: one unified tree)."""

    version: int | None
    controllers: dict[str, Path] = field(default_factory=dict)

    def create(self, name: str, memory_bytes: int, pids: int, cpu_fraction: float) -> list[Path]:
        """Make the worker's cgroups; returns the ``cgroup.procs`` files its process must join."""
        procs: list[Path] = []
        for controller, parent in self.controllers.items():
            group = parent / name
            group.mkdir(exist_ok=True)
            if self.version == 2:
                _write(group / "memory.max", str(memory_bytes))
                _write(group / "memory.swap.max", "0")
                _write(group / "pids.max", str(pids))
                _write(group / "cpu.max", f"{int(cpu_fraction * 100_000)} 100000")
            elif controller == "memory":
                _write(group / "memory.limit_in_bytes", str(memory_bytes))
            elif controller == "pids":
                _write(group / "pids.max", str(pids))
            elif controller == "cpu":
                _write(group / "cpu.cfs_period_us", "100000")
                _write(group / "cpu.cfs_quota_us", str(int(cpu_fraction * 100_000)))
            procs.append(group / "cgroup.procs")
        return procs

    def oom_killed(self, name: str) -> bool:
        """Did the memory controller kill something of this worker?"""
        if self.version == 2 and "unified" in self.controllers:
            events = self.controllers["unified"] / name / "memory.events"
        elif "memory" in self.controllers:
            events = self.controllers["memory"] / name / "memory.oom_control"
        else:
            return False
        try:
            for line in events.read_text().splitlines():
                key, _, value = line.partition(" ")
                if key == "oom_kill" and int(value) > 0:
                    return True
        except OSError:
            pass
        return False

    def remove(self, name: str) -> bool:
        """Remove the worker's groups; False while one is still populated (retry later)."""
        removed = True
        for parent in self.controllers.values():
            try:
                (parent / name).rmdir()
            except FileNotFoundError:
                continue
            except OSError:
                removed = False  # its last processes are still exiting
        return removed

    def leftovers(self, uids: range) -> set[str]:
        """Groups of workers with these uids that a previous process left behind."""
        names: set[str] = set()
        for parent in self.controllers.values():
            for group in parent.glob("w*-*"):
                uid = group.name[1:].split("-", 1)[0]
                if uid.isdigit() and int(uid) in uids:
                    names.add(group.name)
        return names


def _write(path: Path, value: str) -> None:
    try:
        path.write_text(value)
    except OSError as exc:
        logger.warning("sandbox cgroup: cannot write %s: %s", path, exc)


def find_bwrap(configured: str) -> Path:
    found = shutil.which(configured)
    if not found:
        raise SandboxUnavailable(f"bubblewrap ({configured}) not found: apt-get install bubblewrap")
    return Path(found)


def probe_interpreter(python: str) -> Interpreter:
    """Ask the sandbox interpreter where its stdlib, shared libraries and seccomp binding are."""
    try:
        out = subprocess.run(  # noqa: S603 - the operator's configured interpreter
            [python, "-I", "-S", "-c", _PROBE], capture_output=True, env={}, timeout=30, check=True
        ).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        hint = "apt-get install python3-seccomp"
        raise SandboxUnavailable(
            f"{python} with Debian's seccomp binding: {hint} ({exc})"
        ) from None
    info = json.loads(out)
    libs = [Path("/usr/lib") / info["multiarch"]] if info["multiarch"] else []
    libs += [p for p in (Path("/usr/lib64"),) if p.is_dir()]
    return Interpreter(
        executable=Path(os.path.realpath(info["executable"])),
        stdlib=Path(info["stdlib"]),
        library_dirs=tuple(libs),
        seccomp_module=Path(info["seccomp"]),
    )


def detect_cgroups(is_root: bool) -> Cgroups:
    """Writable cgroups v2 (unified) or v1 (memory, pids, cpu); logs what is absent."""
    if not is_root:
        logger.warning("sandbox: not root, so no cgroup limits; rlimits only")
        return Cgroups(version=None)
    if (CGROUP_ROOT / "cgroup.controllers").is_file():
        parent = CGROUP_ROOT / CGROUP_PARENT
        try:
            parent.mkdir(exist_ok=True)
            _write(CGROUP_ROOT / "cgroup.subtree_control", "+memory +pids +cpu")
        except OSError as exc:
            logger.warning("sandbox: cgroups v2 not writable (%s); rlimits only", exc)
            return Cgroups(version=None)
        logger.info("sandbox: cgroups v2 at %s", parent)
        return Cgroups(version=2, controllers={"unified": parent})
    controllers: dict[str, Path] = {}
    for controller in ("memory", "pids", "cpu"):
        parent = CGROUP_ROOT / controller / CGROUP_PARENT
        try:
            parent.mkdir(exist_ok=True)
        except OSError as exc:
            logger.warning("sandbox: cgroup v1 %s controller absent (%s)", controller, exc)
            continue
        controllers[controller] = parent
    if controllers:
        logger.info("sandbox: cgroups v1, controllers %s", ", ".join(controllers))
    else:
        logger.warning("sandbox: no cgroups (neither v2 nor v1); memory/pids/cpu by rlimits only")
    return Cgroups(version=1 if controllers else None, controllers=controllers)


_subreaper_holders = 0


def become_subreaper() -> bool:
    """Orphans of dead workers are re-parented to this process, so it can reap them.

    Held only while a pool is open (counted, for several pools in one process): a subreaper
    also adopts daemons that other code in the process starts (a shell's ``nohup ... &``), and
    it reaps only orphans from sandboxes, so such daemons would linger as zombies once dead.
    """
    global _subreaper_holders
    _subreaper_holders += 1
    return _set_subreaper(1) if _subreaper_holders == 1 else True


def release_subreaper() -> None:
    global _subreaper_holders
    _subreaper_holders = max(0, _subreaper_holders - 1)
    if _subreaper_holders == 0:
        _set_subreaper(0)


def _set_subreaper(on: int) -> bool:
    libc = ctypes.CDLL(None, use_errno=True)
    return libc.prctl(PR_SET_CHILD_SUBREAPER, on, 0, 0, 0) == 0


def _born_in_sandbox(pid: int) -> bool:
    """A process born in a nested pid namespace (a sandbox) shows two or more NSpid entries."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("NSpid:"):
                    return len(line.split()) > 2
    except OSError:
        return False
    return False


def reap_orphans() -> int:
    """Reap zombie children that came from sandboxes (adopted orphans), nothing else.

    The supervisor's own children (the bwrap processes) are left to asyncio, which waits on
    them; reaping those here would steal their exit status.
    """
    reaped = 0
    children: set[str] = set()
    for task in Path("/proc/self/task").iterdir():
        try:
            children.update((task / "children").read_text().split())
        except OSError:
            continue
    for pid_text in children:
        pid = int(pid_text)
        if not _born_in_sandbox(pid):
            continue
        try:
            result = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG)
        except ChildProcessError:
            continue
        if result is not None:
            reaped += 1
        else:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)  # an orphan still running: its sandbox is gone
    return reaped
