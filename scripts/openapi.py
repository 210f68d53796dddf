"""Each service's OpenAPI document, as its app builds it, committed under ``docs/openapi/``.

The JavaScript SDK and the web console generate their API types from these files, so a changed
API changes a file here, and ``check`` (run by ``make test``) fails until it is written again:

    .local/tools/bin/uv run python scripts/openapi.py write
    .local/tools/bin/uv run python scripts/openapi.py check
"""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path
from typing import Any

SERVICES = ("catalog", "installer", "hooks", "analytics", "reviews")
OUT = Path(__file__).resolve().parent.parent / "docs" / "openapi"


def document(service: str) -> str:
    """The service's document as the gateway serves it, in a stable text form."""
    app = importlib.import_module(f"opscenter.{service}.main").create_app()
    doc: dict[str, Any] = app.openapi()
    return json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def main(argv: list[str]) -> int:
    if argv not in (["write"], ["check"]):
        print(__doc__, file=sys.stderr)
        return 2
    stale = []
    for service in SERVICES:
        path = OUT / f"{service}.json"
        text = document(service)
        if argv == ["write"]:
            OUT.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        elif not path.exists() or path.read_text(encoding="utf-8") != text:
            stale.append(path.name)
    if stale:
        print(
            f"docs/openapi is stale for {', '.join(stale)}: the API changed; run "
            "`.local/tools/bin/uv run python scripts/openapi.py write` and commit the result",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
