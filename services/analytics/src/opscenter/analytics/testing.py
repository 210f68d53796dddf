"""Event builders for the analytics service's tests and benchmark: what the other services publish,
with a chosen time, so a test knows what every count must be."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal

from opscenter.analytics.settings import AnalyticsSettings
from opscenter.contracts import CloudEvent, EventPayload, InstallationState, new_event
from opscenter.contracts.catalog import PluginDownloadedV1, PluginRegisteredV1
from opscenter.contracts.hooks import (
    DeliveryDeadLetteredV1,
    DeliveryFailedV1,
    DeliverySucceededV1,
)
from opscenter.contracts.installer import (
    EntitlementChangedV1,
    InstallationDisabledV1,
    InstallationEnabledV1,
    InstallationInstalledV1,
    InstallationUninstalledV1,
    InstallationUpgradedV1,
    split_revenue,
)
from opscenter.contracts.manifest import Category, PluginType, Pricing
from opscenter.contracts.reviews import RatingSummaryChangedV1
from opscenter.servicekit.auth import mint_dev_token

S = InstallationState
SOURCE = "/opscenter/analytics-tests"


def event(payload: EventPayload, at: datetime) -> CloudEvent:
    return new_event(payload, source=SOURCE, time=at)


class PluginEvents:
    """Events about one plugin of one publisher."""

    def __init__(self, publisher_id: str, slug: str | None = None) -> None:
        self.plugin_id = uuid.uuid4()
        self.slug = slug or f"an-{uuid.uuid4().hex[:10]}"
        self.publisher_id = publisher_id

    def registered(self, at: datetime) -> CloudEvent:
        return event(
            PluginRegisteredV1(
                plugin_id=self.plugin_id,
                slug=self.slug,
                publisher_id=self.publisher_id,
                name="Analytics Subject",
                type=PluginType.BACKEND,
                category=Category.MONITORING,
                pricing=Pricing(free=True),
            ),
            at,
        )

    def downloaded(self, at: datetime, version: str = "1.0.0") -> CloudEvent:
        return event(
            PluginDownloadedV1(
                plugin_id=self.plugin_id, slug=self.slug, version=version, day=at.date()
            ),
            at,
        )

    def _installation(
        self, installation_id: uuid.UUID, version: str, sequence: int
    ) -> dict[str, object]:
        return {
            "installation_id": installation_id,
            "tenant_id": f"tenant-{installation_id.hex[:8]}",
            "plugin_id": self.plugin_id,
            "slug": self.slug,
            "version": version,
            "sequence": sequence,
        }

    def installed(
        self, at: datetime, installation_id: uuid.UUID, *, version: str = "1.0.0", sequence: int = 2
    ) -> CloudEvent:
        data = self._installation(installation_id, version, sequence)
        return event(InstallationInstalledV1(**data, state=S.INSTALLED), at)

    def enabled(
        self, at: datetime, installation_id: uuid.UUID, *, version: str = "1.0.0", sequence: int = 3
    ) -> CloudEvent:
        data = self._installation(installation_id, version, sequence)
        return event(InstallationEnabledV1(**data, state=S.ENABLED), at)

    def disabled(
        self, at: datetime, installation_id: uuid.UUID, *, version: str = "1.0.0", sequence: int = 4
    ) -> CloudEvent:
        data = self._installation(installation_id, version, sequence)
        return event(InstallationDisabledV1(**data, state=S.DISABLED), at)

    def upgraded(
        self, at: datetime, installation_id: uuid.UUID, *, old: str, new: str, sequence: int
    ) -> CloudEvent:
        data = self._installation(installation_id, new, sequence)
        return event(
            InstallationUpgradedV1(**data, state=S.ENABLED, from_version=old, to_version=new),
            at,
        )

    def uninstalled(
        self, at: datetime, installation_id: uuid.UUID, *, version: str = "1.0.0", sequence: int = 9
    ) -> CloudEvent:
        data = self._installation(installation_id, version, sequence)
        return event(InstallationUninstalledV1(**data, state=S.UNINSTALLED), at)

    def delivery(self, at: datetime, latency_ms: int, outcome: str = "succeeded") -> CloudEvent:
        common = {
            "delivery_id": uuid.uuid4(),
            "installation_id": uuid.uuid4(),
            "tenant_id": "tenant-hooks",
            "plugin_id": self.plugin_id,
            "event_id": str(uuid.uuid4()),
            "event_name": "device.created",
            "target": "webhook",
            "attempt": 1,
            "latency_ms": latency_ms,
        }
        payload: EventPayload
        if outcome == "succeeded":
            payload = DeliverySucceededV1(**common, status_code=200)
        elif outcome == "failed":
            payload = DeliveryFailedV1(**common, status_code=503, error="HTTP 503")
        else:
            payload = DeliveryDeadLetteredV1(**common, error="timed out")
        return event(payload, at)

    def charged(self, at: datetime, gross: Decimal, currency: str = "USD") -> CloudEvent:
        developer, platform = split_revenue(gross)
        return event(
            EntitlementChangedV1(
                entitlement_id=uuid.uuid4(),
                tenant_id="tenant-pays",
                plugin_id=self.plugin_id,
                slug=self.slug,
                kind="monthly",
                status="active",
                currency=currency,
                gross_amount=gross,
                developer_amount=developer,
                platform_amount=platform,
                period_start=at,
            ),
            at,
        )

    def rated(self, at: datetime, histogram: dict[int, int]) -> CloudEvent:
        count = sum(histogram.values())
        average = sum(k * v for k, v in histogram.items()) / count if count else 0.0
        return event(
            RatingSummaryChangedV1(
                plugin_id=self.plugin_id,
                slug=self.slug,
                average=round(average, 4),
                bayesian_average=round(average, 4),
                count=count,
                histogram=histogram,
            ),
            at,
        )


class Tokens:
    def __init__(self, settings: AnalyticsSettings) -> None:
        self.settings = settings

    def _auth(self, token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}

    def developer(self, publisher_id: str) -> dict[str, str]:
        return self._auth(
            mint_dev_token(self.settings, roles=["developer"], publisher_id=publisher_id)
        )

    def admin(self) -> dict[str, str]:
        return self._auth(mint_dev_token(self.settings, roles=["platform_admin"]))

    def member(self) -> dict[str, str]:
        return self._auth(mint_dev_token(self.settings, roles=["member"], tenant_id="tenant-x"))
