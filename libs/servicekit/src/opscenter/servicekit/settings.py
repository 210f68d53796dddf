"""Settings every service shares; each service subclasses with its own env prefix.

`CatalogSettings(ServiceSettings)` with `env_prefix="CATALOG_"` reads `CATALOG_DATABASE_URL`,
`CATALOG_KAFKA_BOOTSTRAP`, and so on. Nothing has a production default that points at a real host.
"""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class ServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="OPSCENTER_", extra="ignore")

    service_name: str = "opscenter"
    database_url: str = "postgresql+asyncpg://opscenter:opscenter@127.0.0.1:55432/opscenter"
    db_pool_size: int = 10
    kafka_bootstrap: str = "127.0.0.1:59092"

    # JWT: HS256 with a shared secret locally; RS256 with a public key (PEM) or JWKS in production.
    jwt_algorithm: str = "HS256"
    jwt_secret: SecretStr = SecretStr("dev-only-secret-change-me-0123456789abcdef")
    jwt_public_key: str | None = None
    jwt_jwks_url: str | None = None
    jwt_audience: str | None = None
    jwt_issuer: str | None = None

    http_host: str = "127.0.0.1"
    http_port: int = 8000

    log_level: str = "INFO"
    log_json: bool = True
    # "none", "console", or an OTLP/HTTP endpoint such as http://collector:4318/v1/traces.
    otel_exporter: str = "none"

    outbox_batch_size: int = Field(default=500, ge=1, le=10_000)
    outbox_poll_interval_s: float = Field(default=1.0, gt=0)
    consumer_max_attempts: int = Field(default=3, ge=1)
    consumer_batch_size: int = Field(default=500, ge=1)
