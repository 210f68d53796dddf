"""Events of the catalog service: topic ``catalog.plugin`` (key = plugin id) and topic
``catalog.publisher`` (key = publisher id) for publishers' signing keys.

Invariants: every event names the plugin by ``plugin_id`` and its ``slug``; a published
version's manifest has the plugin's slug as ``id`` and the version's number as ``version``.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, ClassVar, Literal, Self
from uuid import UUID

from pydantic import Field, model_validator

from opscenter.contracts.events import EventPayload
from opscenter.contracts.fields import (
    SemVerStr,
    Sha256Hex,
    Signature,
    Slug,
    Text,
    UserRef,
    UtcDatetime,
)
from opscenter.contracts.manifest import Category, Manifest, PluginType, Pricing
from opscenter.contracts.topics import CATALOG_PLUGIN, CATALOG_PUBLISHER, Topic

__all__ = [
    "PluginBannedV1",
    "PluginDeprecatedV1",
    "PluginDownloadedV1",
    "PluginFeaturedV1",
    "PluginRegisteredV1",
    "PluginUpdatedV1",
    "PluginVerifiedV1",
    "PluginVersionPublishedV1",
    "PluginVersionYankedV1",
    "PublisherKeyRegisteredV1",
    "PublisherKeyRevokedV1",
    "artifact_path",
]

_PLUGIN = UUID("0b5e7c4e-2f7d-4c55-9a51-3f1f5d0c9a11")
_PUBLISHER = "pub-7f3a"
_SLUG = "my-awesome-plugin"

Reason = Annotated[Text, Field(max_length=2000)]


def artifact_path(slug: str, version: str) -> str:
    """The gateway path that serves a version's package bytes."""
    return f"/api/v1/plugins/marketplace/{slug}/versions/{version}/package"


class _PluginEvent(EventPayload):
    topic: ClassVar[Topic] = CATALOG_PLUGIN

    plugin_id: UUID
    slug: Slug

    def partition_key(self) -> str:
        return str(self.plugin_id)


class _PluginListing(_PluginEvent):
    publisher_id: UserRef
    name: Annotated[Text, Field(max_length=100)]
    description: Annotated[str, Field(max_length=4000)] = ""
    type: PluginType
    category: Category
    tags: list[str] = Field(default_factory=list)
    pricing: Pricing


def _listing() -> dict[str, object]:
    return {
        "plugin_id": _PLUGIN,
        "slug": _SLUG,
        "publisher_id": _PUBLISHER,
        "name": "My Awesome Plugin",
        "description": "Does awesome things",
        "type": PluginType.HYBRID,
        "category": Category.AI,
        "tags": ["machine-learning", "automation"],
        "pricing": Pricing(free=True),
    }


class PluginRegisteredV1(_PluginListing):
    """A developer registered a plugin (its listing; no version yet)."""

    event_type: ClassVar[str] = "catalog.plugin.registered.v1"

    @classmethod
    def example(cls) -> Self:
        return cls.model_validate(_listing())


class PluginUpdatedV1(_PluginListing):
    """A plugin's listing changed; the whole listing is carried, ``changed`` names what moved."""

    event_type: ClassVar[str] = "catalog.plugin.updated.v1"

    changed: list[str] = Field(default_factory=list)

    @classmethod
    def example(cls) -> Self:
        return cls.model_validate({**_listing(), "changed": ["description"]})


class PluginVersionPublishedV1(_PluginEvent):
    """A version was uploaded and is installable. ``digest`` is the sha-256 of the package;
    ``signature`` (ed25519 over the digest) and ``signing_key_id`` are both set or both absent."""

    event_type: ClassVar[str] = "catalog.plugin.version_published.v1"

    publisher_id: UserRef
    version: SemVerStr
    manifest: Manifest
    digest: Sha256Hex
    size: Annotated[int, Field(gt=0, description="package size in bytes")]
    signature: Signature | None = None
    signing_key_id: UserRef | None = None
    artifact_path: Annotated[str, Field(pattern=r"^/", max_length=512)]
    published_at: UtcDatetime
    changelog: Annotated[str, Field(max_length=20000)] | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.manifest.id != self.slug:
            raise ValueError(f"manifest.id {self.manifest.id!r} differs from slug {self.slug!r}")
        if self.manifest.version != self.version:
            raise ValueError(
                f"manifest.version {self.manifest.version!r} differs from version {self.version!r}"
            )
        if (self.signature is None) != (self.signing_key_id is None):
            raise ValueError("signature and signing_key_id go together")
        return self

    @classmethod
    def example(cls) -> Self:
        return cls(
            plugin_id=_PLUGIN,
            slug=_SLUG,
            publisher_id=_PUBLISHER,
            version="1.0.0",
            manifest=Manifest.example(),
            digest="9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
            size=48213,
            signature="A" * 86 + "==",
            signing_key_id="key-2026-01",
            artifact_path=artifact_path(_SLUG, "1.0.0"),
            published_at=datetime(2026, 1, 26, 19, 0, tzinfo=UTC),
            changelog="First release.",
        )


class PluginVersionYankedV1(_PluginEvent):
    """A version may no longer be installed; existing installations keep running."""

    event_type: ClassVar[str] = "catalog.plugin.version_yanked.v1"

    version: SemVerStr
    reason: Reason

    @classmethod
    def example(cls) -> Self:
        return cls(plugin_id=_PLUGIN, slug=_SLUG, version="1.0.0", reason="crashes on start")


class PluginVerifiedV1(_PluginEvent):
    """A platform admin set (or cleared) the plugin's verified badge."""

    event_type: ClassVar[str] = "catalog.plugin.verified.v1"

    verified: bool
    reason: Reason | None = None

    @classmethod
    def example(cls) -> Self:
        return cls(plugin_id=_PLUGIN, slug=_SLUG, verified=True, reason="code reviewed")


class PluginFeaturedV1(_PluginEvent):
    """The plugin entered or left the featured list; ``rank`` 1 is first; ``until`` ends it."""

    event_type: ClassVar[str] = "catalog.plugin.featured.v1"

    featured: bool
    rank: Annotated[int, Field(ge=1)] | None = None
    until: UtcDatetime | None = None

    @classmethod
    def example(cls) -> Self:
        return cls(
            plugin_id=_PLUGIN,
            slug=_SLUG,
            featured=True,
            rank=1,
            until=datetime(2026, 3, 1, tzinfo=UTC),
        )


class PluginBannedV1(_PluginEvent):
    """The plugin left the marketplace; every installation of it must be disabled."""

    event_type: ClassVar[str] = "catalog.plugin.banned.v1"

    reason: Reason

    @classmethod
    def example(cls) -> Self:
        return cls(plugin_id=_PLUGIN, slug=_SLUG, reason="exfiltrates user data")


class PluginDeprecatedV1(_PluginEvent):
    """The plugin is deprecated, optionally in favour of ``replacement_slug``."""

    event_type: ClassVar[str] = "catalog.plugin.deprecated.v1"

    replacement_slug: Slug | None = None
    reason: Reason

    @classmethod
    def example(cls) -> Self:
        return cls(
            plugin_id=_PLUGIN,
            slug=_SLUG,
            replacement_slug="my-awesome-plugin-2",
            reason="superseded by v2",
        )


class PluginDownloadedV1(_PluginEvent):
    """A package was downloaded; ``day`` (UTC) is the analytics bucket; ``tenant_id`` when known."""

    event_type: ClassVar[str] = "catalog.plugin.downloaded.v1"

    version: SemVerStr
    tenant_id: UserRef | None = None
    day: date

    @classmethod
    def example(cls) -> Self:
        return cls(
            plugin_id=_PLUGIN,
            slug=_SLUG,
            version="1.0.0",
            tenant_id="3f2504e0-4f89-41d3-9a0c-0305e82c3301",
            day=date(2026, 1, 26),
        )


class _PublisherKeyEvent(EventPayload):
    topic: ClassVar[Topic] = CATALOG_PUBLISHER

    publisher_id: UserRef
    key_id: UUID

    def partition_key(self) -> str:
        return self.publisher_id


_KEY_ID = UUID("5d1f0a8e-3c2b-4e7a-9f10-2b6c8d4e1a77")


class PublisherKeyRegisteredV1(_PublisherKeyEvent):
    """A publisher registered a signing key. Packages signed with it verify against
    ``public_key``: the raw 32-byte ed25519 public key, base64. The signature is ed25519 over the
    raw 32-byte sha-256 digest of the package bytes."""

    event_type: ClassVar[str] = "catalog.publisher.key_registered.v1"

    public_key: Annotated[str, Field(min_length=44, max_length=44, pattern=r"^[A-Za-z0-9+/]{43}=$")]
    algorithm: Literal["ed25519"] = "ed25519"
    fingerprint: Sha256Hex
    registered_at: UtcDatetime

    @classmethod
    def example(cls) -> Self:
        return cls(
            publisher_id=_PUBLISHER,
            key_id=_KEY_ID,
            public_key="11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=",
            fingerprint="3f0b6a1c2d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8",
            registered_at=datetime(2026, 1, 26, 18, 0, tzinfo=UTC),
        )


class PublisherKeyRevokedV1(_PublisherKeyEvent):
    """A signing key was revoked: packages signed with it no longer verify for new installs."""

    event_type: ClassVar[str] = "catalog.publisher.key_revoked.v1"

    revoked_at: UtcDatetime

    @classmethod
    def example(cls) -> Self:
        return cls(
            publisher_id=_PUBLISHER,
            key_id=_KEY_ID,
            revoked_at=datetime(2026, 2, 1, 12, 0, tzinfo=UTC),
        )
