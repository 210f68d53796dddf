"""Text Postgres can store: no NUL (U+0000, which Postgres text cannot hold) and no lone
surrogate (U+D800..U+DFFF without its pair, which UTF-8 cannot encode). One rule for every edge
that decodes text (JSON bodies, forms, cursors, plugin.yaml); servicekit turns a hit into a 422
naming the field."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

NUL_REASON = "contains a NUL (U+0000) character"
SURROGATE_REASON = "contains a lone surrogate (U+D800..U+DFFF), which is not text"

_BAD_CHAR = re.compile("[\x00\ud800-\udfff]")


def bad_text_reason(value: str) -> str | None:
    """Why ``value`` cannot be stored as Postgres text, or None when it can."""
    found = _BAD_CHAR.search(value)
    if found is None:
        return None
    return NUL_REASON if found.group() == "\x00" else SURROGATE_REASON


def find_bad_text(value: Any, where: str) -> tuple[str, str] | None:
    """The first (field path, reason) inside a decoded JSON/YAML value that holds text Postgres
    cannot store, looking at keys and strings alike; None when all of it can be stored."""
    for path, text in _texts(value, where):
        reason = bad_text_reason(text)
        if reason is not None:
            return path, reason
    return None


def _shown(key: str) -> str:
    """A key as a field path can carry it: NUL and lone surrogates written as escapes."""
    if bad_text_reason(key) is None:
        return key
    return key.encode("utf-8", "backslashreplace").decode("utf-8").replace("\x00", "\\u0000")


def _texts(value: Any, where: str) -> Iterator[tuple[str, str]]:
    stack: list[tuple[str, Any]] = [(where, value)]
    while stack:
        path, item = stack.pop()
        if isinstance(item, str):
            yield path, item
        elif isinstance(item, dict):
            for key, child in item.items():
                child_path = f"{path}.{_shown(key) if isinstance(key, str) else key}"
                if isinstance(key, str):
                    yield child_path, key
                stack.append((child_path, child))
        elif isinstance(item, list | tuple):
            stack.extend((f"{path}.{i}", child) for i, child in enumerate(item))
