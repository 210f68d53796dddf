"""Hooks settings (env prefix ``HOOKS_``)."""

from __future__ import annotations

from typing import Self

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from opscenter.contracts.schedules import MIN_INTERVAL_S
from opscenter.servicekit import sealing
from opscenter.servicekit.settings import ServiceSettings

#: The issue's schedule: immediately, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h (8 attempts).
DEFAULT_RETRY_SCHEDULE_S = (0.0, 5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 36000.0)


class HooksSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="HOOKS_", extra="ignore")

    service_name: str = "hooks"

    #: Encrypts webhook secrets at rest (any string; a Fernet key is derived from it).
    secret_key: SecretStr = SecretStr("dev-only-hooks-secret-change-me")
    #: How long a rotated-out secret keeps signing.
    secret_overlap_s: float = Field(default=24 * 3600.0, ge=0)

    #: Installation tokens (see tokens.py): the Ed25519 key is derived from this seed.
    token_signing_seed: SecretStr = SecretStr("dev-only-hooks-token-seed-change-me")
    token_ttl_s: int = Field(default=300, ge=30, le=3600)

    #: X25519 private key (base64 of 32 bytes) that opens the secret config values the
    #: installer seals to its public half (``INSTALLER_HOOKS_CONFIG_PUBLIC_KEY``); only the
    #: dispatcher uses it, to build a handler's ``context["config"]`` (ADR 0024). A pair comes
    #: from ``python -m opscenter.servicekit.sealing keygen``.
    config_private_key: SecretStr = SecretStr(sealing.DEV_PRIVATE_KEY)

    #: Delay before attempt n+1 (seconds); its length is the number of attempts before a
    #: delivery is dead-lettered. Tests compress it.
    retry_schedule_s: tuple[float, ...] = DEFAULT_RETRY_SCHEDULE_S
    #: Each delay is multiplied by a random factor in [1 - jitter, 1 + jitter].
    retry_jitter: float = Field(default=0.1, ge=0, le=1)
    #: A Retry-After longer than this is cut to it.
    retry_after_cap_s: float = Field(default=3600.0, ge=0)

    webhook_timeout_s: float = Field(default=15.0, gt=0)
    #: Operator setting: deliver to loopback, private, link-local or metadata addresses.
    #: Off in production; the tests turn it on for their loopback receivers.
    allow_private_targets: bool = False
    #: Largest platform event accepted from ``ops.platform`` (bytes of the Kafka value).
    max_event_bytes: int = Field(default=256 * 1024, ge=1024)

    #: Dispatcher: deliveries leased per claim, how long a lease lasts (a dead dispatcher's
    #: leases expire and another takes them), and how often an idle dispatcher looks for work.
    dispatch_batch_size: int = Field(default=100, ge=1)
    dispatch_concurrency: int = Field(default=200, ge=1)
    lease_s: float = Field(default=60.0, gt=0)
    idle_poll_s: float = Field(default=0.2, gt=0)
    #: At most this many deliveries of one tenant per claim, so a flood cannot fill a claim.
    tenant_share_per_claim: int = Field(default=20, ge=1)

    #: Token bucket per installation: sustained deliveries/s and burst.
    installation_rate_per_s: float = Field(default=200.0, gt=0)
    installation_burst: int = Field(default=400, ge=1)

    #: Circuit breaker per endpoint URL: opens after this many consecutive failed attempts,
    #: probes again after ``breaker_probe_s``.
    breaker_threshold: int = Field(default=5, ge=1)
    breaker_probe_s: float = Field(default=30.0, gt=0)

    #: Handler packages: fetched from the catalog's content-addressed path, checked (sha-256
    #: and the publisher's signature) and unpacked under ``package_root/<digest>/``.
    catalog_url: str = "http://127.0.0.1:8001"
    package_root: str = ".local/hooks-packages"
    #: Operators may allow unsigned packages (the installer's setting of the same name).
    allow_unsigned: bool = False
    artifact_max_bytes: int = Field(default=50 * 1024 * 1024, ge=1)
    fetch_timeout_s: float = Field(default=30.0, gt=0)
    unpacked_max_bytes: int = Field(default=200 * 1024 * 1024, ge=1)
    #: Persistent folders of storage-granted handlers: ``storage_root/<installation id>/``,
    #: each held to ``storage_quota_mb``.
    storage_root: str = ".local/hooks-storage"
    storage_quota_mb: int = Field(default=10, ge=0)
    #: Schedules (``cron:schedule``): nothing more frequent than this is scheduled (the
    #: documented minimum; only test instances lower it), and how long the scheduler sleeps
    #: at most between looks at the schedules (it wakes at the next tick when sooner).
    schedule_min_interval_s: float = Field(default=MIN_INTERVAL_S, ge=1)
    schedule_poll_s: float = Field(default=1.0, gt=0, le=60)

    @model_validator(mode="after")
    def _no_dev_keys_in_production(self) -> Self:
        if self.environment == "production":
            for name in ("secret_key", "token_signing_seed"):
                value: SecretStr = getattr(self, name)
                if value.get_secret_value().startswith("dev-only-"):
                    raise ValueError(f"{name}: production needs its own value")
            if self.config_private_key.get_secret_value() == sealing.DEV_PRIVATE_KEY:
                raise ValueError("config_private_key: production needs its own key pair")
            if self.allow_private_targets:
                raise ValueError("allow_private_targets is for tests, not production")
            if self.schedule_min_interval_s < MIN_INTERVAL_S:
                raise ValueError("schedule_min_interval_s below the minimum is for tests")
        return self

    @field_validator("config_private_key")
    @classmethod
    def _a_private_key(cls, value: SecretStr) -> SecretStr:
        sealing.public_key_of(value.get_secret_value())  # 32 bytes of base64, or refused
        return value

    @field_validator("retry_schedule_s")
    @classmethod
    def _schedule_not_empty(cls, value: tuple[float, ...]) -> tuple[float, ...]:
        if not value or any(v < 0 for v in value):
            raise ValueError("retry_schedule_s needs at least one delay, none negative")
        return value
