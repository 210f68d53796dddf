"""HTTP shapes of moderation."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, WithJsonSchema

from opscenter.contracts.fields import Slug, Text, UtcDatetimeString

Reason = Annotated[
    Text,
    Field(max_length=2000),
    WithJsonSchema({"type": "string", "maxLength": 2000, "pattern": r"\S"}),
]
"""A non-blank reason; the document says so (``pattern``), as the server checks it."""


class VerifyRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    verified: StrictBool
    reason: Reason | None = None


class FeatureRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    featured: StrictBool
    rank: Annotated[StrictInt, Field(ge=1, le=1000)] | None = Field(
        default=None, description="1 is first; required when featured"
    )
    until: UtcDatetimeString | None = Field(default=None, description="When the feature ends")
    reason: Reason | None = None


class BanRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Reason


class YankRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Reason


class DeprecateRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    replacement: Slug | None = Field(default=None, description="The plugin to use instead")
    reason: Reason


class ModerationEntryRead(BaseModel):
    id: uuid.UUID
    action: str
    version: str | None
    actor_id: str
    reason: str | None
    details: dict[str, Any] | None
    created_at: datetime


class ModerationLog(BaseModel):
    items: list[ModerationEntryRead]
    next_cursor: str | None = None


class YankedVersion(BaseModel):
    slug: str
    version: str
    yanked: bool
    yank_reason: str | None
    yanked_at: datetime | None
    latest_version: str | None
