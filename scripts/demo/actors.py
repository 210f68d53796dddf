"""The demo's people: each drives the ``ops-center`` CLI (in this process, with ``--json``) and
the gateway with a token of their own, the way a person at a terminal would.

Each actor has its own CLI config folder (login file and signing keys), so a developer's key
never signs as somebody else, and nothing is read from or written to the user's own
``~/.config/ops-center``.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from opscenter.sdk.cli.app import main as cli_main
from opscenter.servicekit.auth import mint_dev_token
from opscenter.servicekit.settings import ServiceSettings


class DemoError(RuntimeError):
    """A step did not do what the demo needs; the message says which and what it got."""


@contextlib.contextmanager
def _environ(values: dict[str, str]) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, old in saved.items():
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old


@dataclass
class Actor:
    """One person: a token (minted like ``make token``) and a CLI config folder."""

    label: str
    gateway: str
    home: Path
    claims: dict[str, Any]
    token: str = field(init=False)

    def __post_init__(self) -> None:
        self.token = mint_dev_token(ServiceSettings(), ttl_s=4 * 3600, **self.claims)
        self.home.mkdir(parents=True, exist_ok=True)
        self.http = httpx.Client(
            base_url=f"{self.gateway}/api/v1",
            headers={"Authorization": f"Bearer {self.token}"},
            timeout=30,
        )

    @property
    def tenant(self) -> str:
        return str(self.claims.get("tenant_id"))

    def cli(self, *args: str, ok: tuple[int, ...] = (0,)) -> tuple[int, Any]:
        """``ops-center --json ARGS`` as this actor; its JSON answer (a problem on failure)."""
        env = {
            "OPS_CENTER_URL": self.gateway,
            "OPS_CENTER_TOKEN": self.token,
            "OPS_CENTER_CONFIG": str(self.home / "config.json"),
        }
        buffer = io.StringIO()
        with _environ(env), contextlib.redirect_stdout(buffer):
            code = cli_main(["--json", *args])
        text = buffer.getvalue().strip()
        answer = json.loads(text) if text else None
        if code not in ok:
            raise DemoError(f"{self.label}: ops-center {' '.join(args)} exited {code}: {text}")
        return code, answer

    def call(self, method: str, path: str, *, expect: tuple[int, ...], **kw: Any) -> Any:
        """A gateway call that must answer one of ``expect``; its JSON (None when empty)."""
        r = self.http.request(method, path, **kw)
        if r.status_code not in expect:
            raise DemoError(f"{self.label}: {method} {path} answered {r.status_code}: {r.text}")
        return r.json() if r.content else None

    def close(self) -> None:
        self.http.close()


def until(
    what: str, attempt: Callable[[], Any], *, timeout_s: float = 90, every_s: float = 0.5
) -> Any:
    """Repeats ``attempt`` until it returns something truthy: the services converge through
    Kafka, so an installer that has not yet seen a version answers 404 for a while. A
    ``DemoError`` counts as "not yet"; the last one is raised at the deadline."""
    deadline = time.monotonic() + timeout_s
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            result = attempt()
        except DemoError as exc:
            last, result = exc, None
        if result:
            return result
        time.sleep(every_s)
    raise DemoError(f"timed out after {timeout_s:.0f}s waiting for {what}: {last}")
