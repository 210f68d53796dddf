"""The harness's child process: one handler call, run as the sandbox runs it.

Started as ``python -I -S -B _runner.py`` with an empty environment, like the sandbox's shim:
only the standard library is importable besides the plugin's folder, so this file imports
nothing else (and never the SDK's package).

Reads ``{entrypoint, event, context, network}`` as JSON on stdin, moves the reply channel off
stdout (a handler's prints go to stderr, as in the sandbox), refuses inet sockets without
``network:outbound`` (EACCES, as the sandbox's seccomp filter does), imports
``module:function`` from the plugin's folder (the working directory), calls it with
``(event, context)``, awaits a coroutine, and writes one JSON reply.
"""

from __future__ import annotations

import errno
import importlib
import inspect
import json
import os
import socket
import sys
from typing import Any

_INET = (socket.AF_INET, socket.AF_INET6)


def _refuse_inet(event: str, args: tuple[Any, ...]) -> None:
    if event == "socket.__new__" and len(args) >= 2 and args[1] in _INET:
        raise PermissionError(errno.EACCES, "inet sockets need network:outbound")


def _resolve(entrypoint: str) -> Any:
    module_name, _, function_name = entrypoint.partition(":")
    target: Any = importlib.import_module(module_name)
    for part in function_name.split("."):
        target = getattr(target, part)
    if not callable(target):
        raise TypeError(f"{entrypoint} is not callable")
    return target


def _cause(exc: BaseException) -> str:
    if isinstance(exc, MemoryError):
        return "memory"
    if isinstance(exc, PermissionError):
        return "refused"
    return "exception"


def main() -> None:
    request = json.loads(sys.stdin.readline())
    replies = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    # In isolated mode this file's folder is not on the path; the plugin's folder goes first,
    # as the shim puts /plugin first. Nothing else is added: no site-packages, no SDK.
    sys.path.insert(0, os.getcwd())
    if not request["network"]:
        sys.addaudithook(_refuse_inet)
    try:
        handler = _resolve(request["entrypoint"])
    except BaseException as exc:
        handler, failure = None, exc
    # Like a sandbox worker: "ready" once the code is imported; the event's deadline runs
    # from here, so a slow import is not counted against the handler.
    replies.write(json.dumps({"ready": True}) + "\n")
    replies.flush()
    try:
        if handler is None:
            raise failure
        result = handler(request["event"], request["context"])
        if inspect.isawaitable(result):
            import asyncio

            result = asyncio.run(_await(result))
        reply = {"ok": True, "cause": "ok", "result": result, "error": None}
        text = json.dumps(reply, allow_nan=False)
    except BaseException as exc:
        reply = {"ok": False, "cause": _cause(exc), "result": None}
        reply["error"] = f"{type(exc).__name__}: {exc}"[:500]
        text = json.dumps(reply)
    replies.write(text + "\n")
    replies.flush()


async def _await(awaitable: Any) -> Any:
    return await awaitable


if __name__ == "__main__":
    main()
