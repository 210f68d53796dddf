"""HTTP shapes of an installation's webhook endpoint and secret."""

from __future__ import annotations

import re
import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, field_validator

from opscenter.contracts.manifest import WebhookUrl
from opscenter.hooks.models import Subscription

WEBHOOK_URL_SHAPE = (
    r"^[Hh][Tt][Tt][Pp][Ss]?://[A-Za-z0-9._~!$&'()*+,;=%-]+(:[0-9]{1,5})?([/?#][^\s]*)?$"
)


class EndpointUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    @field_validator("url")
    @classmethod
    def _documented_shape(cls, value: str | None) -> str | None:
        # The server refuses what the document refuses, so the two agree both ways.
        if value is not None and not re.search(WEBHOOK_URL_SHAPE, value):
            raise ValueError(f"url {value!r} must be an absolute http(s) URL")
        return value

    url: WebhookUrl | None = Field(
        description="Where every webhook hook is sent (null: back to the manifest's URLs)",
        # http(s), a host name or IPv4 address (no IPv6 literal), no credentials, <= 2048 chars.
        json_schema_extra={"pattern": WEBHOOK_URL_SHAPE, "maxLength": 2048},
    )


class SubscriptionRead(BaseModel):
    installation_id: uuid.UUID
    plugin_id: uuid.UUID
    state: str
    endpoint_url: str | None
    endpoint_disabled: bool = Field(description="Set when the endpoint answered 410 Gone")
    hooks: list[dict[str, str]]

    @classmethod
    def of(cls, s: Subscription) -> SubscriptionRead:
        return cls(
            installation_id=s.installation_id,
            plugin_id=s.plugin_id,
            state=s.state,
            endpoint_url=s.endpoint_url,
            endpoint_disabled=s.endpoint_disabled,
            hooks=[{k: str(v) for k, v in h.items()} for h in s.hooks],
        )


class SecretRotated(BaseModel):
    installation_id: uuid.UUID
    secret: str = Field(description="The new signing secret; shown only in this answer")
    previous_valid_until: datetime | None = Field(
        description="Until when the previous secret also signs (null: there was none)"
    )
