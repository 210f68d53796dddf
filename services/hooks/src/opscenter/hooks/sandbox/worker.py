"""One sandboxed worker process: spawned ready, one event at a time, killed as a whole.

A worker is its own session (the supervisor's child bubblewrap leads it) and its own pid
namespace: killing the session's group kills bubblewrap, and with it the namespace's init, so
the kernel kills everything the handler started, including processes that left the group.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import time
from dataclasses import dataclass
from typing import Any

from opscenter.hooks.sandbox.shim import HEADER, FrameError, decode_body, frame_length


@dataclass(frozen=True)
class Reply:
    """What the worker answered (or why it did not): ``cause`` as in HandlerOutcome."""

    ok: bool
    cause: str
    result: Any = None
    error: str | None = None
    rss_kb: int = 0


class Worker:
    """A live sandboxed process and its pipe; not safe for two calls at once (the pool ensures)."""

    def __init__(
        self, process: asyncio.subprocess.Process, *, name: str, uid: int | None, max_frame: int
    ) -> None:
        self.process = process
        self.name = name
        self.uid = uid
        self.max_frame = max_frame
        self.sandbox_pid: int | None = None  # the namespace's init, seen from the host
        self.events = 0
        self.rss_kb = 0  # as the worker reported after its last event
        #: Set once this worker is due for recycling: its successor's start (see SandboxPool).
        self.successor: asyncio.Task[None] | None = None
        #: The storage generation its tmpfs holds (``storage.generation``), when it has one.
        self.seed: str | None = None
        self.started = time.monotonic()

    @classmethod
    async def spawn(
        cls,
        argv: list[str],
        info_pipe: tuple[int, int],
        *,
        name: str,
        uid: int | None,
        max_frame: int,
    ) -> Worker:
        """``info_pipe``: (read, write) ends; bwrap gets the write end as its --info-fd."""
        read_fd, info_fd = info_pipe
        try:
            process = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.DEVNULL,
                env={},
                pass_fds=(info_fd,),
                start_new_session=True,
                cwd="/",
            )
        except BaseException:
            os.close(read_fd)
            raise
        finally:
            os.close(info_fd)
        worker = cls(process, name=name, uid=uid, max_frame=max_frame)
        worker.sandbox_pid = await asyncio.to_thread(_read_child_pid, read_fd)
        return worker

    @property
    def alive(self) -> bool:
        return self.process.returncode is None

    async def ready(self, timeout_s: float) -> Reply:
        """The shim's first frame: did the handler import?"""
        message = await self._read(timeout_s)
        if isinstance(message, Reply):
            return message
        if message.get("ready") is True:
            return Reply(ok=True, cause="ok")
        return Reply(
            ok=False, cause=str(message.get("cause", "exception")), error=message.get("error")
        )

    async def call(self, frame: bytes, deadline_s: float) -> Reply:
        """Send one encoded request frame; the answer, or why there was none."""
        assert self.process.stdin is not None
        self.events += 1
        try:
            self.process.stdin.write(frame)
            await self.process.stdin.drain()
        except (BrokenPipeError, ConnectionResetError):
            return Reply(ok=False, cause="crashed", error="the worker closed its pipe")
        message = await self._read(deadline_s)
        if isinstance(message, Reply):
            return message
        rss_kb = int(message.get("rss_kb", 0))
        self.rss_kb = rss_kb
        if message.get("ok") is True:
            return Reply(ok=True, cause="ok", result=message.get("result"), rss_kb=rss_kb)
        cause = str(message.get("cause", "exception"))
        return Reply(ok=False, cause=cause, error=str(message.get("error"))[:500], rss_kb=rss_kb)

    async def _read(self, timeout_s: float) -> dict[str, Any] | Reply:
        assert self.process.stdout is not None
        try:
            async with asyncio.timeout(timeout_s):
                header = await self.process.stdout.readexactly(HEADER.size)
                body = await self.process.stdout.readexactly(frame_length(header, self.max_frame))
            message = decode_body(body)
        except TimeoutError:
            return Reply(ok=False, cause="timeout", error=f"no answer within {timeout_s:g} s")
        except asyncio.IncompleteReadError:
            return Reply(ok=False, cause="crashed", error="the worker exited")
        except FrameError as exc:
            return Reply(ok=False, cause="crashed", error=f"bad frame from the worker: {exc}")
        if not isinstance(message, dict):
            return Reply(
                ok=False, cause="crashed", error="bad frame from the worker: not an object"
            )
        return message

    async def kill(self) -> int:
        """SIGKILL the worker's whole session; returns its exit status once reaped."""
        if self.alive:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
        return await self.process.wait()

    def exit_signal(self) -> int | None:
        """The signal that ended the sandboxed process (bwrap reports it as 128 + n)."""
        code = self.process.returncode
        if code is None:
            return None
        if code < 0:
            return -code
        return code - 128 if code > 128 else None


def _read_child_pid(fd: int) -> int | None:
    """bwrap writes {"child-pid": n} to its info fd once the namespace's init exists."""
    data = b""
    with os.fdopen(fd, "rb", buffering=0) as info:
        while chunk := info.read(4096):
            data += chunk
            try:
                pid = json.loads(data).get("child-pid")
            except ValueError:
                continue  # not complete yet
            return pid if isinstance(pid, int) else None
    return None
