"""Errors raised by the contracts library.

Every error is a ``ValueError`` subclass, names the offending field, and can be turned into an
RFC 9457 problem's ``errors[]`` list by a service without knowing the details.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from pydantic import ValidationError
from pydantic_core import ErrorDetails

__all__ = [
    "ContractError",
    "FieldError",
    "ManifestError",
    "UnknownEventType",
    "field_errors",
    "format_loc",
]


@dataclass(frozen=True, slots=True)
class FieldError:
    """One problem with one field: ``loc`` is a dotted path such as ``hooks[0].name``."""

    loc: str
    msg: str

    def __str__(self) -> str:
        return f"{self.loc}: {self.msg}"


class ContractError(ValueError):
    """Input does not satisfy a contract; ``field`` names the first offending field."""

    def __init__(
        self,
        message: str,
        *,
        field: str | None = None,
        errors: Sequence[FieldError] = (),
    ) -> None:
        super().__init__(message)
        self.field = field
        self.errors: list[FieldError] = list(errors)


class UnknownEventType(ContractError):
    """No payload class is registered for an event type."""

    def __init__(self, event_type: str) -> None:
        super().__init__(f"unknown event type {event_type!r}", field="type")
        self.event_type = event_type


class ManifestError(ContractError):
    """A plugin manifest is invalid; ``errors`` lists every problem found, not only the first."""

    def __init__(self, errors: Sequence[FieldError]) -> None:
        if not errors:
            raise ValueError("ManifestError needs at least one FieldError")
        listed = "; ".join(str(e) for e in errors)
        super().__init__(
            f"plugin manifest is invalid: {listed}", field=errors[0].loc, errors=errors
        )


def format_loc(loc: Iterable[int | str], prefix: str = "") -> str:
    """Render a pydantic location as ``a.b[0].c`` (``prefix`` when the location is empty)."""
    out = prefix
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or prefix


_MESSAGES = {
    "missing": "is required",
    "extra_forbidden": "is not a known field",
}
_PREFIXES = ("Value error, ", "Assertion failed, ")


def error_message(err: ErrorDetails) -> str:
    """A pydantic error's message as people read it: no \"Value error, \" prefix."""
    if err["type"] in _MESSAGES:
        return _MESSAGES[err["type"]]
    msg = err["msg"]
    for prefix in _PREFIXES:
        if msg.startswith(prefix):
            return msg[len(prefix) :]
    return msg


def _loc(err: ErrorDetails) -> tuple[int | str, ...]:
    # Drop the tags pydantic adds for function validators and union members; keep field names.
    return tuple(
        part
        for part in err["loc"]
        if isinstance(part, int)
        or not (part.startswith(("function-", "constrained-")) or "[" in part)
    )


def field_errors(exc: ValidationError, prefix: str = "") -> list[FieldError]:
    """Translate a pydantic ``ValidationError`` into ``FieldError``s with dotted locations."""
    seen: set[FieldError] = set()
    out: list[FieldError] = []
    for err in exc.errors(include_url=False):
        fe = FieldError(format_loc(_loc(err), prefix) or prefix or "value", error_message(err))
        if fe not in seen:
            seen.add(fe)
            out.append(fe)
    return out
