"""Annotated field types shared by the manifest and the event payloads.

Each type validates with a message that says why, and declares the JSON Schema other languages see.
"""

from __future__ import annotations

import base64
import re
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BeforeValidator,
    PlainSerializer,
    WithJsonSchema,
)

from opscenter.contracts.semver import SEMVER_PATTERN, parse_version

__all__ = [
    "SLUG_MAX_LENGTH",
    "SLUG_MIN_LENGTH",
    "SLUG_PATTERN",
    "Email",
    "Money",
    "PositiveMoney",
    "SemVerStr",
    "Sha256Hex",
    "Signature",
    "Slug",
    "Text",
    "UserRef",
    "UtcDatetime",
    "check_slug",
    "is_uuid_shaped",
]

SLUG_PATTERN = r"^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$"
SLUG_MIN_LENGTH = 3
SLUG_MAX_LENGTH = 64
_SLUG_RE = re.compile(SLUG_PATTERN, re.ASCII)


def is_uuid_shaped(value: str) -> bool:
    """Whether ``value`` parses as a UUID (any of the forms ``uuid.UUID`` accepts).

    ``uuid.UUID`` first normalises the text this way and refuses any other length; answering
    that case without its exception matters: every slug validated is such a case, and an
    exception raised under pydantic-core's JSON validation costs ~100x a plain return."""
    if len(value.replace("urn:", "").replace("uuid:", "").strip("{}").replace("-", "")) != 32:
        return False
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def check_slug(value: str) -> str:
    """A slug is 3-64 lowercase letters, digits and inner hyphens, and never looks like a UUID.

    The UUID rule keeps ``/plugins/{id}`` unambiguous: an id is either a UUID or a slug.
    """
    if not SLUG_MIN_LENGTH <= len(value) <= SLUG_MAX_LENGTH:
        raise ValueError(
            f"slug must be {SLUG_MIN_LENGTH}-{SLUG_MAX_LENGTH} characters, got {len(value)}"
        )
    if not _SLUG_RE.match(value):
        raise ValueError(
            f"slug {value!r} may contain only lowercase letters, digits and hyphens, "
            "and may not start or end with a hyphen"
        )
    if is_uuid_shaped(value):
        raise ValueError(f"slug {value!r} may not have the shape of a UUID")
    return value


def _check_version(value: str) -> str:
    parse_version(value)
    return value


def _check_sha256(value: str) -> str:
    if not re.fullmatch(r"[0-9a-f]{64}", value):
        raise ValueError("must be a sha-256 digest as 64 lowercase hex characters")
    return value


def _check_signature(value: str) -> str:
    try:
        raw = base64.b64decode(value, validate=True)
    except ValueError as exc:
        raise ValueError("must be base64") from exc
    if len(raw) != 64:
        raise ValueError(f"must be a 64-byte ed25519 signature, got {len(raw)} bytes")
    return value


def _check_money(value: Decimal) -> Decimal:
    if not value.is_finite() or value < 0:
        raise ValueError("must be a non-negative amount")
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -2:
        raise ValueError("must have at most 2 decimal places")
    return value


def _check_positive_money(value: Decimal) -> Decimal:
    if value.is_finite() and value <= 0:
        raise ValueError("must be greater than 0")
    return _check_money(value)


def _to_utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


#: White space as JSON Schema's regular expressions (ECMA-262) define ``\s``. A documented
#: ``pattern: \S`` accepts any text with a character outside this set, so the servers' blank
#: check uses the same set: Python's ``str.strip`` also removes U+001C-U+001F and U+0085,
#: and refused text the schema calls valid.
ECMA_WHITESPACE = frozenset(
    "\t\n\v\f\r \u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008"
    "\u2009\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
)


def is_blank(value: str) -> bool:
    r"""No character outside ``ECMA_WHITESPACE`` (what ``pattern: \S`` refuses)."""
    return all(c in ECMA_WHITESPACE for c in value)


def _check_text(value: str) -> str:
    if is_blank(value):
        raise ValueError("must not be blank")
    return value


def _check_ref(value: str) -> str:
    if is_blank(value) or len(value) > 128:
        raise ValueError("must be a non-blank identifier of at most 128 characters")
    return value


Slug = Annotated[
    str,
    AfterValidator(check_slug),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": SLUG_PATTERN,
            "minLength": SLUG_MIN_LENGTH,
            "maxLength": SLUG_MAX_LENGTH,
        }
    ),
]
"""A plugin slug (``check_slug``)."""

SemVerStr = Annotated[
    str,
    AfterValidator(_check_version),
    WithJsonSchema({"type": "string", "pattern": SEMVER_PATTERN}),
]
"""A strict SemVer 2.0 version string."""

Sha256Hex = Annotated[
    str,
    AfterValidator(_check_sha256),
    WithJsonSchema({"type": "string", "pattern": "^[0-9a-f]{64}$"}),
]

Signature = Annotated[
    str,
    AfterValidator(_check_signature),
    WithJsonSchema({"type": "string", "contentEncoding": "base64"}),
]
"""An ed25519 signature over the artifact's sha-256 digest, base64-encoded."""

_MONEY_SCHEMA = {"type": "string", "pattern": r"^[0-9]+(\.[0-9]{1,2})?$"}

Money = Annotated[
    Decimal,
    AfterValidator(_check_money),
    PlainSerializer(lambda v: format(v, "f"), return_type=str, when_used="json"),
    WithJsonSchema(_MONEY_SCHEMA),
]
"""A non-negative amount with at most 2 decimals; a string on the wire (``"29.99"``)."""

PositiveMoney = Annotated[
    Decimal,
    AfterValidator(_check_positive_money),
    PlainSerializer(lambda v: format(v, "f"), return_type=str, when_used="json"),
    WithJsonSchema(_MONEY_SCHEMA),
]

POSITIVE_MONEY_PATTERN = r"^([0-9]*[1-9][0-9]*(\.[0-9]{1,2})?|[0-9]+\.([1-9][0-9]?|0[1-9]))$"


def _require_string(value: object) -> object:
    if not isinstance(value, str):
        raise ValueError('must be a decimal string such as "29.99", not a JSON number')
    return value


PositiveMoneyString = Annotated[
    Decimal,
    BeforeValidator(_require_string),
    AfterValidator(_check_positive_money),
    PlainSerializer(lambda v: format(v, "f"), return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "pattern": POSITIVE_MONEY_PATTERN, "maxLength": 12}),
]
"""A positive amount with at most 2 decimals, accepted only as a decimal string (``"29.99"``):
a JSON number is refused, as its documents say."""

UtcDatetime = Annotated[AwareDatetime, AfterValidator(_to_utc)]
"""A timezone-aware datetime, normalised to UTC."""


def _require_time_string(value: object) -> object:
    if not isinstance(value, str):
        raise ValueError("must be an RFC 3339 date-time string with its offset")
    return value


UtcDatetimeString = Annotated[
    AwareDatetime,
    BeforeValidator(_require_time_string),
    AfterValidator(_to_utc),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]
"""``UtcDatetime`` as a request field: only a date-time string (with its offset), never a number
of seconds, as the documents say."""

Text = Annotated[str, AfterValidator(_check_text)]
"""A non-blank string."""

UserRef = Annotated[
    str,
    AfterValidator(_check_ref),
    WithJsonSchema({"type": "string", "minLength": 1, "maxLength": 128}),
]
"""An identifier issued outside this suite (tenant, user, publisher, device): opaque, non-blank."""


EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
_EMAIL_RE = re.compile(EMAIL_PATTERN)


def _check_email(value: str) -> str:
    if len(value) > 254 or not _EMAIL_RE.match(value):
        raise ValueError(f"{value!r} is not an email address")
    return value


Email = Annotated[
    str,
    AfterValidator(_check_email),
    WithJsonSchema({"type": "string", "format": "email", "maxLength": 254}),
]
"""An email address (syntax check only: deliverability is the platform's business)."""
