from __future__ import annotations

from pydantic_settings import SettingsConfigDict

from opscenter.servicekit.settings import ServiceSettings


class HooksSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="HOOKS_", extra="ignore")

    service_name: str = "hooks"
