"""HTTP shapes of the marketplace."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field


class Rating(BaseModel):
    average: float
    count: int
    bayesian_average: float


class PluginSummary(BaseModel):
    """One listing row."""

    id: uuid.UUID
    slug: str
    name: str
    description: str
    type: str
    category: str
    tags: list[str]
    latest_version: str | None
    verified: bool
    featured: bool
    deprecated: bool
    pricing: dict[str, Any]
    rating: Rating
    install_count: int
    publisher: str


class Facets(BaseModel):
    category: dict[str, int] = Field(default_factory=dict)
    type: dict[str, int] = Field(default_factory=dict)
    pricing: dict[str, int] = Field(default_factory=dict)
    verified: dict[str, int] = Field(default_factory=dict)


class MarketplacePage(BaseModel):
    items: list[PluginSummary]
    facets: Facets | None = Field(
        default=None, description="Counts over every match; on the first page only"
    )
    next_cursor: str | None = None


class FeaturedPlugin(PluginSummary):
    rank: int
    until: datetime | None


class FeaturedList(BaseModel):
    items: list[FeaturedPlugin]


class CategoryCount(BaseModel):
    category: str
    label: str
    count: int


class HookRead(BaseModel):
    name: str
    handler: str | None = None
    url: str | None = None


class Deprecation(BaseModel):
    reason: str | None
    replacement: str | None


class VersionDetail(BaseModel):
    version: str
    published_at: datetime
    yanked: bool
    digest: str
    size: int
    signed: bool
    compatibility: str | None
    changelog: str | None
    permissions: list[str]
    hooks: list[HookRead]
    dependencies: dict[str, str]
    config_schema: dict[str, Any] | None
    package_path: str


class PluginDetail(PluginSummary):
    histogram: dict[str, int] = Field(description="Stars 1-5 -> number of ratings")
    download_count: int
    deprecation: Deprecation | None
    latest: VersionDetail | None
    created_at: datetime
    updated_at: datetime


class VersionRead(BaseModel):
    version: str
    published_at: datetime
    yanked: bool
    yank_reason: str | None
    digest: str
    size: int
    signed: bool
    signing_key_id: uuid.UUID | None
    compatibility: str | None
    changelog: str | None
    download_count: int


class VersionPage(BaseModel):
    items: list[VersionRead]
    next_cursor: str | None = None
