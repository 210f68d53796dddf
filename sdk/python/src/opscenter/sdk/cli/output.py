"""How every command answers: rich text for people, one JSON document with ``--json``.

A failure is ``Failure`` (exit code 1, or 2 for a usage problem such as a missing ``--yes``);
with ``--json`` its problem document is printed on stdout, so scripts read one shape.
"""

from __future__ import annotations

import json
import sys
from typing import Any, NoReturn

from rich.console import Console
from rich.table import Table

__all__ = ["Failure", "Output", "out"]


class Failure(Exception):
    """A command failed; ``problem`` is problem+json shaped (type, title, detail, errors)."""

    def __init__(self, problem: dict[str, Any], code: int = 1) -> None:
        super().__init__(str(problem.get("detail") or problem.get("title")))
        self.problem = problem
        self.code = code


class Output:
    def __init__(self) -> None:
        self.json = False
        self.console = Console(stderr=False, highlight=False, soft_wrap=True)
        self.errors = Console(stderr=True, highlight=False, soft_wrap=True)

    @property
    def interactive(self) -> bool:
        return sys.stdin.isatty() and not self.json

    def result(self, data: Any, human: str | Table | None = None) -> None:
        """The command's answer: ``data`` as JSON, or ``human`` (defaults to the JSON)."""
        if self.json:
            sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")
        elif human is not None:
            self.console.print(human)
        else:
            self.console.print_json(json.dumps(data, default=str))

    def info(self, text: str) -> None:
        """Progress and hints: on stderr, never mixed into ``--json`` output."""
        if not self.json:
            self.errors.print(text)

    def fail(self, problem: dict[str, Any], code: int = 1) -> NoReturn:
        raise Failure(problem, code)

    def show_failure(self, failure: Failure) -> None:
        problem = failure.problem
        if self.json:
            sys.stdout.write(json.dumps(problem, indent=2, default=str) + "\n")
            return
        status = f" ({problem['status']})" if problem.get("status") else ""
        title = problem.get("title") or problem.get("type") or "error"
        self.errors.print(f"[bold red]error{status}:[/] {problem.get('detail') or title}")
        for err in problem.get("errors") or []:
            self.errors.print(f"  - [bold]{err.get('field')}[/]: {err.get('message')}")


def table(columns: list[str], rows: list[list[Any]]) -> Table:
    t = Table(*columns, show_edge=False, header_style="bold")
    for row in rows:
        t.add_row(*("" if v is None else str(v) for v in row))
    return t


out = Output()
