"""The suite's processes under supervisord: a process that dies is started again.

`suite.py` describes the programs (name, command, environment); this module writes them into
`.local/<instance>/supervisor/supervisord.conf`, starts supervisord when it is not running (a
second `up` re-reads the file and starts only what changed or stopped) and reads states and
restart counts back through supervisord's XML-RPC socket. supervisord itself runs detached, so
it outlives the command that started it, and stops every program (each in its own process
group, so sandbox children go too) on `shutdown`; a program whose leader was killed has the rest
of its group killed by `launch.py` before it starts again.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import xmlrpc.client
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from supervisor.xmlrpc import SupervisorTransport

LAUNCH = Path(__file__).resolve().parent / "launch.py"


@dataclass(frozen=True)
class Program:
    name: str  # e.g. "catalog-api"; the log file is <logs>/<name>.log
    command: Sequence[str]
    environment: Mapping[str, str]  # on top of supervisord's own environment


@dataclass(frozen=True)
class ProcessState:
    name: str
    state: str  # RUNNING, STARTING, BACKOFF, EXITED, FATAL, STOPPED, ...
    pid: int
    uptime_s: int
    restarts: int  # unexpected exits since supervisord started


class Supervisor:
    def __init__(self, root: Path, logs: Path) -> None:
        self.root = root
        self.logs = logs
        self.conf = root / "supervisord.conf"
        self.socket = root / "supervisor.sock"
        self.pidfile = root / "supervisord.pid"
        self.log = root / "supervisord.log"

    # -- writing and starting ----------------------------------------------------------------

    def apply(self, programs: Sequence[Program]) -> None:
        """Writes the configuration and makes supervisord run exactly these programs."""
        self.root.mkdir(parents=True, exist_ok=True)
        self.logs.mkdir(parents=True, exist_ok=True)
        self.conf.write_text(self._render(programs))
        if self.running():
            added, changed, removed = self._rpc().supervisor.reloadConfig()[0]
            for name in removed:
                self._rpc().supervisor.stopProcessGroup(name)
                self._rpc().supervisor.removeProcessGroup(name)
            for name in changed:
                self._rpc().supervisor.stopProcessGroup(name)
                self._rpc().supervisor.removeProcessGroup(name)
                self._rpc().supervisor.addProcessGroup(name)
            for name in added:
                self._rpc().supervisor.addProcessGroup(name)
            self._rpc().supervisor.startAllProcesses(False)
            return
        subprocess.run(
            [sys.executable, "-m", "supervisor.supervisord", "-c", str(self.conf)], check=True
        )
        deadline = time.monotonic() + 20
        while not self.running():
            if time.monotonic() > deadline:
                raise SystemExit(f"supervisord did not start (see {self.log})")
            time.sleep(0.1)

    def shutdown(self, timeout_s: float = 40) -> None:
        """Stops every program, then supervisord itself."""
        if not self.running():
            return
        pid = int(self.pidfile.read_text().strip())
        self._rpc().supervisor.shutdown()
        deadline = time.monotonic() + timeout_s
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)

    def running(self) -> bool:
        try:
            return self._rpc().supervisor.getState()["statename"] == "RUNNING"
        except (OSError, xmlrpc.client.Fault):
            return False

    def signal(self, name: str, signal_name: str) -> None:
        self._rpc().supervisor.signalProcess(name, signal_name)

    # -- reading -----------------------------------------------------------------------------

    def states(self) -> dict[str, ProcessState]:
        if not self.running():
            return {}
        restarts = self._unexpected_exits()
        out = {}
        for info in self._rpc().supervisor.getAllProcessInfo():
            name = info["name"]
            up = info["now"] - info["start"] if info["statename"] == "RUNNING" else 0
            out[name] = ProcessState(
                name, info["statename"], info["pid"], up, restarts.get(name, 0)
            )
        return out

    def _unexpected_exits(self) -> dict[str, int]:
        """supervisord logs `exited: <name> (... not expected)` for each death it restarts."""
        counts: dict[str, int] = {}
        try:
            text = self.log.read_text(errors="replace")
        except FileNotFoundError:
            return counts
        # Only since the latest start of supervisord: the log is appended to across runs.
        text = text.rsplit("supervisord started with pid", 1)[-1]
        for name in re.findall(r"exited: (\S+) \(.*not expected\)", text):
            counts[name] = counts.get(name, 0) + 1
        return counts

    # -- internals ---------------------------------------------------------------------------

    def _render(self, programs: Sequence[Program]) -> str:
        lines = [
            "; Written by deploy/local/suite.py on every `up`; edits are overwritten.",
            "[unix_http_server]",
            f"file={self.socket}",
            "chmod=0700",
            "[supervisord]",
            f"logfile={self.log}",
            f"pidfile={self.pidfile}",
            "logfile_maxbytes=10MB",
            "logfile_backups=2",
            f"childlogdir={self.logs}",
            "nodaemon=false",
            "[rpcinterface:supervisor]",
            "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface",
            "[supervisorctl]",
            f"serverurl=unix://{self.socket}",
        ]
        for program in programs:
            # launch.py kills what the program's previous run left (children of a killed
            # leader) before it execs the command.
            group_file = self.root / f"{program.name}.pgid"
            command = [sys.executable, str(LAUNCH), str(group_file), "--", *program.command]
            env = ",".join(f'{k}="{_quote(v)}"' for k, v in sorted(program.environment.items()))
            lines += [
                f"[program:{program.name}]",
                f"command={' '.join(_shell_word(w) for w in command)}",
                f"environment={env}" if env else "",
                "autostart=true",
                "autorestart=true",
                # A process that lives 2 s counts as started; one that dies sooner is retried
                # with backoff and given up (FATAL) after 10 tries, shown by `make status`.
                "startsecs=2",
                "startretries=10",
                "stopsignal=TERM",
                "stopwaitsecs=20",
                "stopasgroup=true",
                "killasgroup=true",
                "redirect_stderr=true",
                f"stdout_logfile={self.logs / (program.name + '.log')}",
                "stdout_logfile_maxbytes=50MB",
                "stdout_logfile_backups=2",
            ]
        return "\n".join(line for line in lines if line) + "\n"

    def _rpc(self) -> Any:
        transport = SupervisorTransport(None, None, f"unix://{self.socket}")
        return xmlrpc.client.ServerProxy("http://127.0.0.1", transport=transport)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _quote(value: str) -> str:
    # supervisord expands %(name)s in its values and reads "..." with backslash escapes.
    return value.replace("%", "%%").replace("\\", "\\\\").replace('"', '\\"')


def _shell_word(word: str) -> str:
    # supervisord splits `command` with shlex; it also expands %(name)s there.
    if re.fullmatch(r"[\w@%+=:,./-]+", word):
        return word.replace("%", "%%")
    return "'" + word.replace("%", "%%").replace("'", "'\"'\"'") + "'"
