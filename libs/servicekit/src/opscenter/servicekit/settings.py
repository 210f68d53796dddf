"""Settings every service shares; each service subclasses with its own env prefix.

`CatalogSettings(ServiceSettings)` with `env_prefix="CATALOG_"` reads `CATALOG_DATABASE_URL`,
`CATALOG_KAFKA_BOOTSTRAP`, and so on. Nothing has a production default that points at a real host.
"""

from __future__ import annotations

from typing import Literal, Self

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# Local and test runs only; `environment="production"` refuses it.
DEV_JWT_SECRET = "dev-only-secret-change-me-0123456789abcdef"  # noqa: S105


#: Postgres' ``plan_cache_mode`` values.
PlanCacheMode = Literal["auto", "force_generic_plan", "force_custom_plan"]


class ServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="OPSCENTER_", extra="ignore")

    service_name: str = "opscenter"
    # "production" refuses the local defaults that would be unsafe there (the dev JWT secret).
    environment: Literal["dev", "test", "production"] = "dev"
    database_url: str = "postgresql+asyncpg://opscenter:opscenter@127.0.0.1:25432/opscenter"
    # A fixed pool: requests beyond it wait for a connection, up to db_pool_timeout_s.
    db_pool_size: int = Field(default=10, ge=1)
    db_pool_timeout_s: float = Field(default=30.0, gt=0)
    # Postgres' choice for prepared statements: "auto" re-plans a statement with its values
    # until a generic plan looks as cheap. A service whose statements are all key lookups may
    # force generic plans and skip planning (a recursive CTE is re-planned every time on "auto").
    db_plan_cache_mode: PlanCacheMode = "auto"
    kafka_bootstrap: str = "127.0.0.1:29092"
    #: The replication factor of the topics a process creates when they are missing (one broker
    #: locally; a production cluster wants 3, with min.insync.replicas 2, so acks=all holds).
    kafka_topic_replication: int = Field(default=1, ge=1, le=16)

    # JWT: HS256 with a shared secret locally; RS256 with a public key (PEM) or JWKS in production.
    jwt_algorithm: str = "HS256"
    jwt_secret: SecretStr = SecretStr(DEV_JWT_SECRET)
    jwt_public_key: str | None = None
    jwt_jwks_url: str | None = None
    jwt_audience: str | None = None
    jwt_issuer: str | None = None

    http_host: str = "127.0.0.1"
    http_port: int = 8000
    # API processes on one host (uvicorn workers sharing the port), each with its own pool of
    # db_pool_size connections. On a host of N cores, N processes keep them all busy in a burst
    # (ADR 0010; the runs are in bench/RESULTS.md).
    http_workers: int = Field(default=1, ge=1)
    # How long uvicorn keeps an idle keep-alive connection. It must outlast the gateway's own
    # upstream idle timeout (nginx `keepalive_timeout` 60s in deploy/local/nginx.conf.template),
    # so the gateway always closes an idle connection first and never sends a request down one
    # the service is closing (uvicorn's default, 5s, raced nginx's 60s).
    http_keep_alive_s: int = Field(default=75, ge=1)
    # Every JSON body: at most this many bytes (413) and arrays/objects this deep (422).
    max_json_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    max_json_depth: int = Field(default=32, ge=2, le=256)
    # Mounts GET/POST /_fault/500, which fails on purpose (tests of error containment only).
    fault_route: bool = False
    # Mounts GET/POST /api/v1/dev/sign-in, which signs a dev token for any role and tenant (the
    # web console's local sign-in; servicekit devsignin.py). Never in production.
    dev_sign_in: bool = False

    log_level: str = "INFO"
    log_json: bool = True
    # One INFO line per event a consumer applies (consumer, event id and type, with the event's
    # trace id), so one event can be followed through every process's log.
    log_events: bool = True
    # "none", "console", or an OTLP/HTTP endpoint such as http://collector:4318/v1/traces. With
    # "none", the standard OTEL_EXPORTER_OTLP_ENDPOINT (when set) still sends spans by OTLP/HTTP.
    otel_exporter: str = "none"
    # A JSON-lines file every finished span is appended to (telemetry.JsonLinesSpanExporter);
    # the local test instance sets one per process and the end-to-end tests read them.
    trace_file: str | None = None
    # Workers, relays and hooks' dispatcher serve Prometheus metrics on http_host:metrics_port
    # (0: not served). An API serves /metrics on its HTTP port instead, never via the gateway.
    metrics_port: int = Field(default=0, ge=0, le=65535)

    outbox_batch_size: int = Field(default=500, ge=1, le=10_000)
    outbox_poll_interval_s: float = Field(default=1.0, gt=0)
    consumer_max_attempts: int = Field(default=3, ge=1)
    consumer_batch_size: int = Field(default=500, ge=1)

    @model_validator(mode="after")
    def _no_dev_secrets_in_production(self) -> Self:
        """Production refuses the dev secret, tokens not tied to an audience and an issuer (a
        token minted for another system would be accepted), the fault route and the development
        sign-in."""
        if self.environment != "production":
            return self
        if self.jwt_algorithm.startswith("HS"):
            secret = self.jwt_secret.get_secret_value()
            if secret == DEV_JWT_SECRET or len(secret) < 32:
                raise ValueError(
                    "jwt_secret: production needs its own secret of at least 32 characters "
                    "(or an RS256 public key / JWKS URL)"
                )
        elif not (self.jwt_public_key or self.jwt_jwks_url):
            raise ValueError("jwt_public_key or jwt_jwks_url is required for " + self.jwt_algorithm)
        if not (self.jwt_audience and self.jwt_issuer):
            raise ValueError("jwt_audience and jwt_issuer: production needs both set")
        if self.fault_route:
            raise ValueError("fault_route: production never mounts the fault route")
        if self.dev_sign_in:
            raise ValueError("dev_sign_in: production never signs development tokens")
        return self
