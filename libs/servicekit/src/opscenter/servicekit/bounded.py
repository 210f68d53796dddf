"""Size limits for JSON values a service stores and answers again (a tenant's plugin config, say):
the request body limit bounds one request, but a stored value is returned in every listing, so it
gets a cap of its own, far below it."""

from __future__ import annotations

import json
from typing import Any

from pydantic import AfterValidator

MAX_STORED_JSON_BYTES = 64 * 1024


def json_bytes(value: Any) -> int:
    """The size of ``value`` as compact UTF-8 JSON, as it would be stored."""
    return len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode())


def stored_json_limit(max_bytes: int = MAX_STORED_JSON_BYTES) -> AfterValidator:
    """A pydantic validator refusing a value larger than ``max_bytes`` as compact JSON (a 422
    naming the field, through the usual validation errors)."""

    def check(value: Any) -> Any:
        size = json_bytes(value)
        if size > max_bytes:
            raise ValueError(f"is {size} bytes as JSON; at most {max_bytes} bytes are stored")
        return value

    return AfterValidator(check)
