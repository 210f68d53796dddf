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
