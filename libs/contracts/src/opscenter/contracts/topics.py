"""Kafka topics: one per producing aggregate, keyed by the aggregate whose order matters.

Invariants: a topic's dead-letter topic is ``<name>.dlq``; consumer groups are named
``<service>.<purpose>``; every event type is published to exactly one topic.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = [
    "ALL_TOPICS",
    "CATALOG_PLUGIN",
    "CATALOG_PUBLISHER",
    "HOOKS_DELIVERY",
    "INSTALLER_ENTITLEMENT",
    "INSTALLER_INSTALLATION",
    "OPS_PLATFORM",
    "REVIEWS_REVIEW",
    "Topic",
    "consumer_group",
    "topic_by_name",
]

_NAME_PART = re.compile(r"^[a-z][a-z0-9-]*$")


@dataclass(frozen=True)
class Topic:
    """A Kafka topic; ``key`` documents what the record key is (ordering holds per key)."""

    name: str
    key: str
    partitions: int = 6

    @property
    def dlq(self) -> str:
        """Where a consumer parks a message it cannot process after bounded retries."""
        return f"{self.name}.dlq"

    def __str__(self) -> str:
        return self.name


CATALOG_PLUGIN = Topic("catalog.plugin", key="plugin id")
CATALOG_PUBLISHER = Topic("catalog.publisher", key="publisher id")
INSTALLER_INSTALLATION = Topic("installer.installation", key="tenant_id:plugin_id")
INSTALLER_ENTITLEMENT = Topic("installer.entitlement", key="tenant_id:plugin_id")
HOOKS_DELIVERY = Topic("hooks.delivery", key="installation id")
REVIEWS_REVIEW = Topic("reviews.review", key="plugin id")
OPS_PLATFORM = Topic("ops.platform", key="tenant id")

ALL_TOPICS: tuple[Topic, ...] = (
    CATALOG_PLUGIN,
    CATALOG_PUBLISHER,
    INSTALLER_INSTALLATION,
    INSTALLER_ENTITLEMENT,
    HOOKS_DELIVERY,
    REVIEWS_REVIEW,
    OPS_PLATFORM,
)


def topic_by_name(name: str) -> Topic:
    """The topic called ``name``; raises ``KeyError`` for an unknown one."""
    for topic in ALL_TOPICS:
        if topic.name == name:
            return topic
    raise KeyError(name)


def consumer_group(service: str, purpose: str) -> str:
    """``service.purpose`` (e.g. ``analytics.install-stats``); both parts lowercase kebab-case."""
    for label, part in (("service", service), ("purpose", purpose)):
        if not _NAME_PART.match(part):
            raise ValueError(
                f"consumer group {label} {part!r} must be lowercase letters, digits and hyphens"
            )
    return f"{service}.{purpose}"
