from __future__ import annotations

from pydantic_settings import SettingsConfigDict

from opscenter.servicekit.settings import ServiceSettings


class InstallerSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="INSTALLER_", extra="ignore")

    service_name: str = "installer"
