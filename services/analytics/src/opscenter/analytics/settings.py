from __future__ import annotations

from pydantic_settings import SettingsConfigDict

from opscenter.servicekit.settings import ServiceSettings


class AnalyticsSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="ANALYTICS_", extra="ignore")

    service_name: str = "analytics"
