"""The in-sandbox side of a worker: limits itself, installs seccomp, then runs the plugin's code.

This module runs under Debian's ``/usr/bin/python3 -I -S`` inside bubblewrap, so it imports the
standard library only (and Debian's ``seccomp`` binding, by path). The supervisor imports it too,
for the frame format: one definition of the wire format for both ends.

Frames are a 4-byte big-endian length followed by that many bytes of UTF-8 JSON. The worker
answers every request with exactly one frame; its first frame says it is ready. A request names
its entrypoint: one worker serves every handler of its plugin version, each imported on first use.
Order inside the sandbox is the point: rlimits, then the seccomp filter, then the audit hook,
and only then the plugin's code, so nothing the plugin runs precedes its limits.
"""

from __future__ import annotations

import errno
import json
import os
import struct
import sys
from typing import Any, BinaryIO

HEADER = struct.Struct(">I")

#: Frames larger than this are refused by both ends (a config value overrides it in the worker).
DEFAULT_MAX_FRAME = 1024 * 1024

#: Socket families refused without network:outbound (netlink and packet sockets always).
AF_INET, AF_INET6, AF_NETLINK, AF_PACKET = 2, 10, 16, 17

#: Python-level operations refused when the handler may reach loopback (ADR 0015): native code
#: and new programs could connect without the audited socket path.
NATIVE_ESCAPES = frozenset(
    {"ctypes.dlopen", "ctypes.dlsym", "ctypes.cdata", "ctypes.call_function"}
)


class FrameError(Exception):
    """The peer sent something that is not a frame (closed, oversized or not JSON)."""


class Refused(PermissionError):
    """The sandbox's own policy (not the kernel) refused an operation."""


def encode_frame(message: Any, max_frame: int = DEFAULT_MAX_FRAME) -> bytes:
    body = json.dumps(message, separators=(",", ":"), allow_nan=False).encode()
    if len(body) > max_frame:
        raise FrameError(f"frame of {len(body)} bytes exceeds {max_frame}")
    return HEADER.pack(len(body)) + body


def decode_body(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError as exc:
        raise FrameError(f"frame is not JSON: {exc}") from None


def frame_length(header: bytes, max_frame: int) -> int:
    (length,) = HEADER.unpack(header)
    if length > max_frame:
        raise FrameError(f"frame of {length} bytes exceeds {max_frame}")
    return length


def _read_exact(stream: BinaryIO, n: int) -> bytes:
    chunks, left = [], n
    while left:
        chunk = stream.read(left)
        if not chunk:
            raise FrameError("peer closed the pipe")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def read_frame(stream: BinaryIO, max_frame: int) -> Any:
    length = frame_length(_read_exact(stream, HEADER.size), max_frame)
    return decode_body(_read_exact(stream, length))


# ----------------------------------------------------------------------------- in the sandbox


def _set_rlimits(limits: dict[str, int]) -> None:
    import resource
    import signal

    for name, value in limits.items():
        # RLIMIT_CPU: SIGXCPU at the soft limit says "cpu"; the hard one (SIGKILL) is a backstop.
        hard = value + 1 if name == "RLIMIT_CPU" else value
        resource.setrlimit(getattr(resource, name), (value, hard))
    # A write past RLIMIT_FSIZE then fails with EFBIG instead of killing the worker.
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)


def _install_seccomp(seccomp_path: str, network: bool) -> None:
    """Refuse what no handler needs, and inet sockets without the grant (EACCES, not a kill)."""
    sys.path.insert(0, seccomp_path)
    try:
        import seccomp  # Debian's python3-seccomp, bound read-only by the supervisor
    finally:
        sys.path.remove(seccomp_path)
    refuse = seccomp.ERRNO(errno.EACCES)
    flt = seccomp.SyscallFilter(defaction=seccomp.ALLOW)
    families = [AF_NETLINK, AF_PACKET] + ([] if network else [AF_INET, AF_INET6])
    for family in families:
        flt.add_rule(refuse, "socket", seccomp.Arg(0, seccomp.EQ, family))
    for name in (
        "execve", "execveat", "ptrace", "process_vm_readv", "process_vm_writev",
        "io_uring_setup", "io_uring_enter", "io_uring_register", "bpf", "perf_event_open",
        "userfaultfd", "keyctl", "add_key", "request_key", "mount", "umount2", "unshare",
        "setns", "pivot_root", "chroot", "init_module", "finit_module", "kexec_load",
        "personality", "open_by_handle_at", "name_to_handle_at",
    ):  # fmt: skip
        flt.add_rule(refuse, name)
    flt.load()  # libseccomp sets no_new_privs first


def _is_loopback(host: str) -> bool:
    import ipaddress

    try:
        address = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return host.lower() in {"localhost", "localhost.localdomain", "ip6-localhost"}
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback or address.is_unspecified


def _install_audit_hook(network: bool, allow_loopback: bool) -> None:
    """Refuse loopback targets of a network-granted handler unless the operator allows them."""
    if not network or allow_loopback:
        return

    def hook(event: str, args: tuple[Any, ...]) -> None:
        if event in NATIVE_ESCAPES:
            raise Refused(f"{event} is refused in this sandbox")
        if event in ("socket.connect", "socket.sendto", "socket.sendmsg") and len(args) >= 2:
            address = args[1]
            host = address[0] if isinstance(address, tuple) and address else None
            if isinstance(host, str) and _is_loopback(host):
                raise Refused(f"connection to loopback {host} is refused")

    sys.addaudithook(hook)


def _seed_storage(seed: str, target: str) -> None:
    """Copy the persisted storage (bound read-only at ``seed``) into the quota-sized tmpfs."""
    import shutil

    for entry in os.scandir(seed):
        source, dest = entry.path, os.path.join(target, entry.name)
        if entry.is_dir(follow_symlinks=False):
            shutil.copytree(source, dest, symlinks=True)
        elif entry.is_file(follow_symlinks=False):
            shutil.copy2(source, dest)


def classify(exc: BaseException, forked: bool) -> tuple[str, str]:
    """The outcome cause of a handler's exception, and a short description without a traceback."""
    description = f"{type(exc).__name__}: {exc}"[:500]
    if isinstance(exc, MemoryError):
        return "memory", "MemoryError: the handler exceeded its memory limit"
    if isinstance(exc, Refused):
        return "refused", description
    if isinstance(exc, OSError):
        if exc.errno == errno.EAGAIN and forked:
            return "pids", f"{description} (process limit reached)"
        if exc.errno in (errno.EPERM, errno.EACCES, errno.EROFS):
            return "refused", description
        if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
            return "refused", f"{description} (storage or file size quota)"
    return "exception", description


class _Handlers:
    """The plugin's handlers, imported on first use, and whether the current event forked."""

    def __init__(self) -> None:
        self.functions: dict[str, Any] = {}
        self.forked = False
        self.loop: Any = None
        sys.addaudithook(self._audit)

    def _audit(self, event: str, args: tuple[Any, ...]) -> None:
        if event in ("os.fork", "os.forkpty", "os.posix_spawn"):
            self.forked = True

    def _resolve(self, entrypoint: str) -> Any:
        import importlib

        function = self.functions.get(entrypoint)
        if function is None:
            module_name, _, function_name = entrypoint.partition(":")
            function = importlib.import_module(module_name)
            for part in function_name.split("."):
                function = getattr(function, part)
            if not callable(function):
                raise TypeError(f"{entrypoint} is not callable")
            self.functions[entrypoint] = function
        return function

    def run(self, entrypoint: str, event: Any, context: Any) -> Any:
        import inspect

        self.forked = False
        result = self._resolve(entrypoint)(event, context)
        if inspect.isawaitable(result):
            if self.loop is None:
                import asyncio

                self.loop = asyncio.new_event_loop()
            result = self.loop.run_until_complete(result)
        return result


def _rss_kb() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * (os.sysconf("SC_PAGE_SIZE") // 1024)


def serve(config: dict[str, Any]) -> None:
    """Set the sandbox up in a safe order, then answer one frame per request until EOF."""
    max_frame = int(config["max_frame"])
    # The protocol moves to private descriptors; the handler's prints go to stderr.
    requests = os.fdopen(os.dup(0), "rb", buffering=0)
    replies = os.fdopen(os.dup(1), "wb", buffering=0)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(2, 1)
    os.close(null)
    os.chdir("/plugin")
    if config.get("storage_seed"):
        _seed_storage(config["storage_seed"], config["storage"])
    _set_rlimits(config["rlimits"])
    _install_seccomp(config["seccomp_path"], bool(config["network"]))
    _install_audit_hook(bool(config["network"]), bool(config["allow_loopback"]))
    sys.path.insert(0, "/plugin")
    my_pid = os.getpid()
    handlers = _Handlers()
    replies.write(encode_frame({"ready": True}, max_frame))
    while True:
        try:
            request = read_frame(requests, max_frame)
        except FrameError:
            return
        try:
            result = handlers.run(request["entrypoint"], request["event"], request["context"])
            frame = encode_frame({"ok": True, "result": result, "rss_kb": _rss_kb()}, max_frame)
        except BaseException as exc:
            if os.getpid() != my_pid:
                os._exit(0)  # a forked child of the handler must never answer
            cause, error = classify(exc, handlers.forked)
            reply = {"ok": False, "cause": cause, "error": error, "rss_kb": _rss_kb()}
            frame = encode_frame(reply, max_frame)
        if os.getpid() != my_pid:
            os._exit(0)
        # The reply carries the resident set so the supervisor can recycle a bloated worker.
        replies.write(frame)


if __name__ == "__main__":
    serve(json.loads(sys.argv[1]))
