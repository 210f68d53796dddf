"""Starts one supervised program after removing what its previous run left behind.

    python launch.py <group-file> -- <command...>

supervisord starts each program as the leader of its own process group, but when the leader is
SIGKILLed its children live on: nginx's workers keep the gateway's port (so the new master
cannot bind it), uvicorn's worker processes keep the API's. This launcher, which becomes the
program (exec, same pid), first kills the previous run's group recorded in <group-file>, then
records its own and execs the command.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time
from pathlib import Path


def _start_time(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (field 22 of /proc/<pid>/stat)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]


def kill_previous_group(group_file: Path) -> None:
    try:
        pgid_text, started = group_file.read_text().split()
        pgid = int(pgid_text)
    except (OSError, ValueError):
        return
    leader_started = _start_time(pgid)
    if leader_started is not None and leader_started != started:
        return  # the pid now belongs to another process: not our group
    # A group id is not reused while any member is alive, so members found are our orphans.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            os.killpg(pgid, 0)  # raises ProcessLookupError once the group is empty
            time.sleep(0.05)


def main(argv: list[str]) -> None:
    if len(argv) < 3 or argv[1] != "--":
        raise SystemExit(__doc__)
    group_file, command = Path(argv[0]), argv[2:]
    kill_previous_group(group_file)
    if os.getpgrp() != os.getpid():
        os.setpgrp()  # started by hand, not by supervisord: lead a group of our own
    group_file.write_text(f"{os.getpid()} {_start_time(os.getpid())}\n")
    os.execvp(command[0], command)


if __name__ == "__main__":
    main(sys.argv[1:])
