"""HTTP shapes of publishing: plugin registration, signing keys, published versions."""

from __future__ import annotations

import base64
import re
import uuid
from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, WithJsonSchema

from opscenter.catalog.models import Plugin, PublisherKey
from opscenter.contracts import Category, PluginType, Pricing
from opscenter.contracts.fields import POSITIVE_MONEY_PATTERN, Slug, Text
from opscenter.contracts.manifest import Tag

# What the server checks, said in the document (the validators behind these types are code).
NON_BLANK = r"\S"
TAG_SCHEMA = {"type": "string", "pattern": r"^[a-z0-9][a-z0-9-]{0,31}$"}
_MONEY = {"type": "string", "pattern": POSITIVE_MONEY_PATTERN}
_CURRENCY = {"type": "string", "pattern": r"^[A-Z]{3}$"}
_TRIAL = {"type": "integer", "minimum": 0, "maximum": 365}
_NULL = {"type": "null"}
# Pricing's three forms (contracts.Pricing's rules): free, a subscription, a one-time purchase.
PRICING_SCHEMA = {
    "oneOf": [
        {
            "type": "object",
            "additionalProperties": False,
            "required": ["free"],
            "properties": {
                "free": {"const": True},
                "monthly": _NULL,
                "yearly": _NULL,
                "lifetime": _NULL,
                "trial_days": {"anyOf": [_NULL, {"const": 0}]},
                "currency": _CURRENCY,
            },
        },
        {
            "type": "object",
            "additionalProperties": False,
            "required": ["free"],
            "properties": {
                "free": {"const": False},
                "monthly": {"anyOf": [_MONEY, _NULL]},
                "yearly": {"anyOf": [_MONEY, _NULL]},
                "lifetime": _NULL,
                "trial_days": {"anyOf": [_TRIAL, _NULL]},
                "currency": _CURRENCY,
            },
            "anyOf": [
                {"required": ["monthly"], "properties": {"monthly": _MONEY}},
                {"required": ["yearly"], "properties": {"yearly": _MONEY}},
            ],
        },
        {
            "type": "object",
            "additionalProperties": False,
            "required": ["free", "lifetime"],
            "properties": {
                "free": {"const": False},
                "monthly": _NULL,
                "yearly": _NULL,
                "lifetime": _MONEY,
                "trial_days": _NULL,
                "currency": _CURRENCY,
            },
        },
    ]
}
# An ed25519 key: base64 of its 32 raw bytes, or the PEM of its SubjectPublicKeyInfo (whose
# DER always starts with the same 12 bytes, "MCowBQYDK2VwAyEA" in base64). The last character
# before "=" carries 2 unused bits, zero in canonical base64 (which PEM readers insist on).
_KEY_B64 = r"[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]="
PUBLIC_KEY_PATTERN = (
    rf"^\s*({_KEY_B64}|-----BEGIN PUBLIC KEY-----\r?\nMCowBQYDK2VwAyEA{_KEY_B64}"
    r"\r?\n-----END PUBLIC KEY-----)\s*$"
)


class PluginCreate(BaseModel):
    """A listing; versions come later with ``POST /plugins/upload``."""

    model_config = ConfigDict(extra="forbid")

    slug: Slug
    name: Annotated[
        Text,
        Field(max_length=100),
        WithJsonSchema({"type": "string", "maxLength": 100, "pattern": NON_BLANK}),
    ]
    description: Annotated[str, Field(max_length=4000)] = ""
    type: PluginType
    category: Category
    tags: Annotated[list[Annotated[Tag, WithJsonSchema(TAG_SCHEMA)]], Field(max_length=20)] = Field(
        default_factory=list
    )
    pricing: Annotated[Pricing, WithJsonSchema(PRICING_SCHEMA)] = Field(
        default_factory=Pricing.free_plan
    )


class RatingRead(BaseModel):
    average: float
    bayesian_average: float
    count: int


class PluginRead(BaseModel):
    id: uuid.UUID
    slug: str
    publisher_id: str
    name: str
    description: str
    type: str
    category: str
    tags: list[str]
    pricing: dict[str, Any]
    latest_version: str | None
    verified: bool
    featured: bool
    deprecated: bool
    replacement_slug: str | None
    banned: bool
    rating: RatingRead
    install_count: int
    download_count: int
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, p: Plugin, *, now: datetime | None = None) -> PluginRead:
        featured = p.featured_rank is not None and (
            p.featured_until is None or now is None or p.featured_until > now
        )
        return cls(
            id=p.id,
            slug=p.slug,
            publisher_id=p.publisher_id,
            name=p.name,
            description=p.description,
            type=p.type,
            category=p.category,
            tags=list(p.tags or []),
            pricing=p.pricing,
            latest_version=p.latest_version,
            verified=p.verified,
            featured=featured,
            deprecated=p.deprecated,
            replacement_slug=p.replacement_slug,
            banned=p.banned_at is not None,
            rating=RatingRead(
                average=p.rating_average or 0.0,
                bayesian_average=p.rating_bayesian,
                count=p.rating_count or 0,
            ),
            install_count=p.install_count or 0,
            download_count=p.download_count or 0,
            created_at=p.created_at,
            updated_at=p.updated_at,
        )


class PluginPage(BaseModel):
    items: list[PluginRead]
    next_cursor: str | None = None


def _key_shape(value: str) -> str:
    """Refuses what the documented pattern refuses, read as JSON Schema validators read it
    (a search with Python's regular expressions), so the document and the server agree."""
    if not re.search(PUBLIC_KEY_PATTERN, value):
        raise ValueError("must be base64 of the raw 32-byte ed25519 key, or its PEM")
    return value


class PublisherKeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    public_key: Annotated[
        str,
        Field(
            min_length=1,
            max_length=4096,
            description="ed25519 public key: base64 of the raw 32 bytes, or PEM "
            "(SubjectPublicKeyInfo)",
        ),
        AfterValidator(_key_shape),
        WithJsonSchema(
            {
                "type": "string",
                "pattern": PUBLIC_KEY_PATTERN,
                "description": "ed25519 public key: base64 of the raw 32 bytes, or PEM "
                "(SubjectPublicKeyInfo)",
            }
        ),
    ]


class PublisherKeyRead(BaseModel):
    key_id: uuid.UUID
    algorithm: str
    fingerprint: str
    public_key: str = Field(description="base64 of the raw 32-byte ed25519 key")
    created_at: datetime
    revoked_at: datetime | None = None

    @classmethod
    def of(cls, k: PublisherKey) -> PublisherKeyRead:
        return cls(
            key_id=k.id,
            algorithm=k.algorithm,
            fingerprint=k.fingerprint,
            public_key=base64.b64encode(k.public_key).decode(),
            created_at=k.created_at,
            revoked_at=k.revoked_at,
        )


class PublisherKeyList(BaseModel):
    items: list[PublisherKeyRead]


class VersionPublished(BaseModel):
    """The answer to an upload: the immutable version just published."""

    plugin_id: uuid.UUID
    slug: str
    version: str
    digest: str
    size: int
    signed: bool
    signing_key_id: uuid.UUID | None
    artifact_path: str
    published_at: datetime
    manifest: dict[str, Any]


class UploadChecked(BaseModel):
    """The answer to an upload with ``dry_run=true``: every check passed, nothing published."""

    dry_run: bool
    plugin_id: uuid.UUID
    slug: str
    version: str
    digest: str
    size: int
    signed: bool
    signing_key_id: uuid.UUID | None
