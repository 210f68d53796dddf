from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from opscenter.servicekit.settings import ServiceSettings


class AnalyticsSettings(ServiceSettings):
    """Analytics settings (env prefix ``ANALYTICS_``)."""

    model_config = SettingsConfigDict(env_prefix="ANALYTICS_", extra="ignore")

    service_name: str = "analytics"

    #: Hour rows are kept this many days (hour-interval queries may reach back this far).
    hourly_retention_days: int = Field(default=14, ge=2, le=366)
    #: Day rows are kept this many days (day-interval queries may reach back this far).
    daily_retention_days: int = Field(default=5 * 366, ge=31)
    #: How often the worker rolls complete days up and ages rows out (any replica may; only
    #: one at a time does the work).
    maintenance_interval_s: float = Field(default=300.0, gt=0)
    #: A day is rolled up once it ended this long ago (late events after that still count:
    #: they are added to the day row directly).
    rollup_grace_s: float = Field(default=3600.0, ge=0)
    #: Most buckets one series answers (a longer range answers 422 naming ``from``).
    max_buckets: int = Field(default=5000, ge=1)
    #: Prepended to the names of the topics the worker consumes (tests and benchmarks give a run
    #: topics of its own, so its events reach no other consumer). Empty in deployments.
    topic_prefix: str = Field(default="", pattern=r"^[a-z0-9.-]*$")
    #: Processed-event ledger entries are kept this many days: longer than any topic's
    #: retention, so no redelivery can outlive its entry.
    ledger_retention_days: int = Field(default=30, ge=1)
