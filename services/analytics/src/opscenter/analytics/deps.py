"""FastAPI dependencies shared by the analytics service's endpoints (HTTP layer only)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path, Request

from opscenter.analytics.settings import AnalyticsSettings


async def get_settings(request: Request) -> AnalyticsSettings:
    settings: AnalyticsSettings = request.app.state.settings
    return settings


SettingsDep = Annotated[AnalyticsSettings, Depends(get_settings)]

PluginRef = Annotated[
    str,
    Path(
        min_length=1,
        max_length=64,
        description="The plugin's UUID or its slug (a slug never has a UUID's shape).",
    ),
]
