"""HTTP shapes of reviews. Text is stored and returned exactly as sent: no HTML is interpreted,
escaped or stripped (a client renders it as plain text)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from opscenter.contracts.fields import is_blank
from opscenter.reviews.summary import BAYES_PRIOR_MEAN, BAYES_PRIOR_WEIGHT, Summary

TITLE_MAX = 200
BODY_MAX = 5000
REASON_MAX = 2000


def _plain_text(value: str) -> str:
    """Non-blank, and encodable as UTF-8 (a JSON text may escape a lone surrogate, which no
    database text can hold)."""
    if is_blank(value):
        raise ValueError("must not be blank")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError("must be valid Unicode text (no lone surrogates)") from exc
    return value


Rating = Annotated[int, Field(ge=1, le=5, description="Stars, 1 to 5")]
#: What the schema says of non-blank text (``contracts.fields.is_blank`` is its refusal).
NON_BLANK = {"pattern": r"\S"}
Title = Annotated[
    str,
    Field(min_length=1, max_length=TITLE_MAX, json_schema_extra=NON_BLANK),
    AfterValidator(_plain_text),
]
Body = Annotated[
    str,
    Field(
        min_length=1,
        max_length=BODY_MAX,
        description="Plain text, returned as sent",
        json_schema_extra=NON_BLANK,
    ),
    AfterValidator(_plain_text),
]
ReplyBody = Body
Reason = Annotated[
    str,
    Field(min_length=1, max_length=REASON_MAX, json_schema_extra=NON_BLANK),
    AfterValidator(_plain_text),
]


class ReviewSort(StrEnum):
    NEWEST = "newest"
    HELPFUL = "helpful"
    HIGHEST = "highest"
    LOWEST = "lowest"


class ReviewWrite(BaseModel):
    """A new review, or the whole of an edited one."""

    model_config = ConfigDict(extra="forbid")

    rating: Rating
    title: Title
    body: Body


class ReplyWrite(BaseModel):
    model_config = ConfigDict(extra="forbid")

    body: ReplyBody


class HideRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    hidden: bool
    reason: Reason


class ReplyRead(BaseModel):
    body: str
    author_id: str
    created_at: datetime
    updated_at: datetime


class ReviewRead(BaseModel):
    id: uuid.UUID
    plugin_id: uuid.UUID
    slug: str
    user_id: str
    rating: int
    title: str
    body: str
    version: str = Field(description="The plugin version the reviewer's tenant had installed")
    still_installed: bool = Field(
        description="Whether the reviewer's tenant has the plugin installed now"
    )
    helpful_count: int
    hidden: bool = Field(description="Hidden by a moderator (only platform admins see these)")
    hidden_reason: str | None = None
    reply: ReplyRead | None = None
    created_at: datetime
    updated_at: datetime


class RatingSummary(BaseModel):
    average: float = Field(description="Mean of the visible reviews' ratings; 0 without any")
    bayesian_average: float = Field(
        description=(
            f"(m*C + sum of ratings) / (m + count) with the prior m={BAYES_PRIOR_WEIGHT} "
            f"ratings at C={BAYES_PRIOR_MEAN} (the catalog's ranking prior, ADR 0012); "
            "0 without any rating"
        )
    )
    count: int
    histogram: dict[str, int] = Field(description="Visible reviews per rating, keys '1'..'5'")


class ReviewPage(BaseModel):
    items: list[ReviewRead]
    summary: RatingSummary
    next_cursor: str | None = None


class HelpfulRead(BaseModel):
    review_id: uuid.UUID
    helpful_count: int
    voted: bool = Field(description="Always true: the caller's vote counts (once)")


class ModerationEntryRead(BaseModel):
    id: uuid.UUID
    review_id: uuid.UUID
    action: str
    actor_id: str
    reason: str
    created_at: datetime


class ModerationLog(BaseModel):
    items: list[ModerationEntryRead]


# --- building answers (the list's items as JSON-ready dicts, the writes' as models) ----------


def _fields(
    get: Callable[[str], Any], plugin_id: uuid.UUID, slug: str, *, admin: bool
) -> dict[str, Any]:
    """A review's answer fields from a row (``get`` reads a column); the hidden flag and reason
    only for platform_admin (everyone else never sees a hidden review)."""
    reply_body = get("reply_body")
    return {
        "id": get("id"),
        "plugin_id": plugin_id,
        "slug": slug,
        "user_id": get("user_id"),
        "rating": get("rating"),
        "title": get("title"),
        "body": get("body"),
        "version": get("version"),
        "helpful_count": get("helpful_count"),
        "hidden": bool(get("hidden")) and admin,
        "hidden_reason": get("hidden_reason") if admin else None,
        "reply": None
        if reply_body is None
        else {
            "body": reply_body,
            "author_id": get("reply_author_id"),
            "created_at": get("replied_at"),
            "updated_at": get("reply_updated_at"),
        },
        "created_at": get("created_at"),
        "updated_at": get("updated_at"),
    }


def page_item(row: Mapping[str, Any], slug: str, *, admin: bool) -> dict[str, Any]:
    """A list row (with ``still_installed``) as the JSON of a ``ReviewRead`` (the list is the
    hot read: its few non-JSON values are converted by name, not by inspecting every value)."""
    fields = _fields(row.__getitem__, row["plugin_id"], slug, admin=admin)
    fields["still_installed"] = row["still_installed"]
    fields["id"], fields["plugin_id"] = str(fields["id"]), str(fields["plugin_id"])
    fields["created_at"] = fields["created_at"].isoformat()
    fields["updated_at"] = fields["updated_at"].isoformat()
    reply = fields["reply"]
    if reply is not None:
        reply["created_at"] = reply["created_at"].isoformat()
        reply["updated_at"] = reply["updated_at"].isoformat()
    return fields


def review_read(
    review: Any, slug: str, *, still_installed: bool, admin: bool = False
) -> ReviewRead:
    """A review row object (the ORM's ``Review``) as its answer."""
    fields = _fields(lambda name: getattr(review, name), review.plugin_id, slug, admin=admin)
    return ReviewRead(**fields, still_installed=still_installed)


def summary_read(summary: Summary) -> dict[str, Any]:
    return {
        "average": summary.average,
        "bayesian_average": summary.bayesian_average,
        "count": summary.count,
        "histogram": {str(star): n for star, n in summary.histogram.items()},
    }
