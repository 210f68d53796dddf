from __future__ import annotations

from typing import Self

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from opscenter.servicekit import sealing
from opscenter.servicekit.settings import PlanCacheMode, ServiceSettings


class InstallerSettings(ServiceSettings):
    """Installer settings (env prefix ``INSTALLER_``)."""

    model_config = SettingsConfigDict(env_prefix="INSTALLER_", extra="ignore")

    service_name: str = "installer"
    # Every statement is a key lookup, an array of keys or the dependency closure (a recursive
    # CTE that "auto" re-plans on every install request): generic plans cost no planning.
    db_plan_cache_mode: PlanCacheMode = "force_generic_plan"
    #: Base URL of the catalog; artifacts are fetched from its content-addressed path.
    catalog_url: str = "http://127.0.0.1:8001"
    #: Content-addressed install store (``<root>/<digest>/``), readable by the hooks service.
    install_root: str = ".local/installs"
    #: Operators may allow unsigned packages; by default they are refused.
    allow_unsigned: bool = False
    #: Key that encrypts secret config fields at rest (any string; a Fernet key is derived).
    secret_key: SecretStr = SecretStr("dev-only-installer-secret-change-me")
    #: The hooks service's X25519 public key (base64 of 32 bytes; the pair comes from
    #: ``python -m opscenter.servicekit.sealing keygen``, the private half is
    #: ``HOOKS_CONFIG_PRIVATE_KEY``): secret config values are sealed to it before they go on
    #: Kafka in ``config_set`` events, so only hooks can read them (ADR 0024).
    hooks_config_public_key: str = sealing.DEV_PUBLIC_KEY
    artifact_max_bytes: int = Field(default=50 * 1024 * 1024, ge=1)
    unpacked_max_bytes: int = Field(default=200 * 1024 * 1024, ge=1)
    fetch_timeout_s: float = Field(default=30.0, gt=0)

    @field_validator("hooks_config_public_key")
    @classmethod
    def _a_public_key(cls, value: str) -> str:
        sealing.key_id(value)  # refuses anything but 32 bytes of base64, naming no byte of it
        return value.strip()

    @model_validator(mode="after")
    def _no_dev_keys_in_production(self) -> Self:
        if self.environment == "production":
            if self.secret_key.get_secret_value().startswith("dev-only-"):
                raise ValueError("secret_key: production needs its own value")
            if self.hooks_config_public_key == sealing.DEV_PUBLIC_KEY:
                raise ValueError(
                    "hooks_config_public_key: production needs the hooks service's own key "
                    "(the development key's private half is public)"
                )
        return self
