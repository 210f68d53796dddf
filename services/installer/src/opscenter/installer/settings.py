from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

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
    artifact_max_bytes: int = Field(default=50 * 1024 * 1024, ge=1)
    unpacked_max_bytes: int = Field(default=200 * 1024 * 1024, ge=1)
    fetch_timeout_s: float = Field(default=30.0, gt=0)
