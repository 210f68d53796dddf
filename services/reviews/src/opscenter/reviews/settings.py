from __future__ import annotations

from pydantic_settings import SettingsConfigDict

from opscenter.servicekit.settings import ServiceSettings


class ReviewsSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="REVIEWS_", extra="ignore")

    service_name: str = "reviews"
