from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from opscenter.servicekit.settings import ServiceSettings


class ReviewsSettings(ServiceSettings):
    """Reviews settings (env prefix ``REVIEWS_``)."""

    model_config = SettingsConfigDict(env_prefix="REVIEWS_", extra="ignore")

    service_name: str = "reviews"

    #: Writes (reviews, edits, deletes, votes, replies) one user may make per window, counted in
    #: Postgres so the limit holds across every API process; the next answers 429.
    write_limit: int = Field(default=30, ge=1)
    write_window_seconds: int = Field(default=60, ge=1)

    #: List answers are cached per process and emptied at once by every change (ADR 0020);
    #: this TTL is only a safety net (0 = no cache).
    list_cache_seconds: float = Field(default=300.0, ge=0)
    list_cache_max_entries: int = Field(default=20_000, ge=1)
    #: Bytes of cached list bodies per process.
    list_cache_max_bytes: int = Field(default=64 * 1024 * 1024, ge=1)
    #: How often the listening connection is pinged (a dead one disables the list cache).
    list_listener_ping_seconds: float = Field(default=5.0, gt=0)
