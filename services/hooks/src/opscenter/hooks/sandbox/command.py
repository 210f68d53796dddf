"""The command line of one sandboxed worker: bubblewrap's view, setpriv's uid, the shim's config.

The view holds the interpreter's files, the shim, the plugin's package (read-only, at /plugin),
a private size-limited /tmp and, per the grant, /storage; nothing else of the host. Everything
is bound read-only and the root itself is remounted read-only.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from opscenter.hooks.sandbox.host import Interpreter
from opscenter.hooks.sandbox.settings import SandboxSettings
from opscenter.hooks.sandbox.spec import STORAGE_PATH, HandlerSpec

MIB = 1024 * 1024
SHIM_PATH = Path(__file__).with_name("shim.py")
SETPRIV = Path("/usr/bin/setpriv")
SEED_DIR = "/sandbox/storage-seed"
STORAGE_DIR = STORAGE_PATH
#: Bound read-only (when present) only into network-granted sandboxes.
NETWORK_FILES = (
    "/etc/resolv.conf",
    "/etc/hosts",
    "/etc/nsswitch.conf",
    "/etc/gai.conf",
    "/etc/ssl/certs",
    "/usr/share/ca-certificates",
)

#: Joins the cgroups named before ``--``, then becomes the command after it: the worker's first
#: process is inside its limits before bubblewrap forks anything.
_JOIN_CGROUPS = 'while [ "$1" != -- ]; do echo $$ > "$1" || exit 125; shift; done; shift; exec "$@"'


@dataclass(frozen=True)
class WorkerCommand:
    argv: list[str]
    info_fd: int


def storage_path_inside(spec: HandlerSpec) -> str | None:
    """Where the handler finds its storage folder (for the dispatcher's context)."""
    return STORAGE_DIR if spec.storage_dir is not None else None


def build_command(
    spec: HandlerSpec,
    settings: SandboxSettings,
    *,
    bwrap: Path,
    interpreter: Interpreter,
    uid: int | None,
    cgroup_procs: list[Path],
    info_fd: int,
) -> WorkerCommand:
    """``uid`` None: not root, so bubblewrap makes an unprivileged user namespace instead."""
    args = [str(bwrap), "--clearenv", "--die-with-parent", "--info-fd", str(info_fd)]
    args += ["--unshare-ipc", "--unshare-pid", "--unshare-uts", "--unshare-cgroup-try"]
    if not spec.network:
        args.append("--unshare-net")
    if uid is None:
        args.append("--unshare-user")
    args += ["--hostname", "sandbox"]
    args += _ro(interpreter.executable, interpreter.executable)
    args += _ro(interpreter.stdlib, interpreter.stdlib)
    for lib in interpreter.library_dirs:
        args += _ro(lib, lib)
    args += ["--symlink", "usr/lib", "/lib"]
    if Path("/usr/lib64").is_dir():
        args += ["--symlink", "usr/lib64", "/lib64"]
    args += ["--ro-bind-try", "/etc/ld.so.cache", "/etc/ld.so.cache"]
    if spec.network:
        for path in NETWORK_FILES:  # name resolution and the CA bundle, for outbound calls
            args += ["--ro-bind-try", path, path]
    args += _ro(
        interpreter.seccomp_module, Path("/sandbox/seccomp") / interpreter.seccomp_module.name
    )
    args += _ro(SHIM_PATH, Path("/sandbox/shim.py"))
    args += _ro(spec.package_dir, Path("/plugin"))
    args += ["--proc", "/proc", "--dev", "/dev"]
    args += ["--perms", "1777", "--size", str(settings.tmpfs_mb * MIB), "--tmpfs", "/tmp"]  # noqa: S108 (inside)
    seed = None
    if spec.storage_dir is not None and spec.storage_writable:
        # Writes land in a tmpfs of exactly the quota (the kernel enforces it); the supervisor
        # copies it back to storage_dir after each event. The persisted copy seeds it, read-only.
        seed = SEED_DIR
        args += _ro(spec.storage_dir, Path(SEED_DIR))
        args += ["--perms", "0777", "--size", str(max(spec.storage_quota_bytes, 4096))]
        args += ["--tmpfs", STORAGE_DIR]
    elif spec.storage_dir is not None:
        args += _ro(spec.storage_dir, Path(STORAGE_DIR))
    if uid is not None:
        args += _ro(SETPRIV, SETPRIV)
    args += ["--remount-ro", "/", "--chdir", "/plugin"]
    args = _with_parent_dirs(args)
    if uid is not None:
        # setpriv needs these two to become the slot's uid; it then drops every capability.
        args += ["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID", "--", str(SETPRIV)]
        args += [f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--inh-caps=-all"]
        args += ["--bounding-set=-all", "--no-new-privs"]
    args += ["--", str(interpreter.executable), "-I", "-S", "-B", "/sandbox/shim.py"]
    args.append(json.dumps(_shim_config(spec, settings, seed, limit_nproc=uid is not None)))
    if cgroup_procs:
        args = ["/bin/sh", "-c", _JOIN_CGROUPS, "sh", *map(str, cgroup_procs), "--", *args]
    return WorkerCommand(argv=args, info_fd=info_fd)


def _with_parent_dirs(args: list[str]) -> list[str]:
    """Create every mount point's parents first as 0755: bwrap's own would be 0700 (root's),
    which the slot's uid could not traverse."""
    targets = [args[i + 2] for i, arg in enumerate(args) if arg in ("--ro-bind", "--ro-bind-try")]
    targets += [args[i + 1] for i, arg in enumerate(args) if arg in ("--tmpfs", "--symlink")]
    parents = sorted({str(p) for t in targets for p in Path(t).parents if str(p) != "/"}, key=len)
    head = args.index("--hostname")
    dirs = [opt for d in parents for opt in ("--perms", "0755", "--dir", d)]
    return args[:head] + dirs + args[head:]


def _ro(source: Path, target: Path) -> list[str]:
    return ["--ro-bind", str(source), str(target)]


def _shim_config(
    spec: HandlerSpec, settings: SandboxSettings, seed: str | None, *, limit_nproc: bool
) -> dict[str, object]:
    rlimits = {
        "RLIMIT_AS": settings.memory_mb * MIB,
        "RLIMIT_NOFILE": settings.nofile,
        "RLIMIT_FSIZE": settings.fsize_mb * MIB,
        "RLIMIT_CPU": settings.cpu_s,
        "RLIMIT_CORE": 0,
    }
    if limit_nproc:  # counts the uid's processes: meaningful only for a uid of its own
        rlimits["RLIMIT_NPROC"] = settings.nproc
    return {
        "network": spec.network,
        "allow_loopback": settings.allow_loopback,
        "rlimits": rlimits,
        "seccomp_path": "/sandbox/seccomp",
        "max_frame": settings.max_frame_bytes,
        "storage_seed": seed,
        "storage": storage_path_inside(spec),
    }
