"""FastAPI dependencies shared by the catalog's endpoints (HTTP layer only).

Coroutines, like servicekit's: they only read ``app.state``, and FastAPI would run a plain
``def`` dependency in a worker thread on every request."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path, Request

from opscenter.catalog.artifacts import ArtifactStore
from opscenter.catalog.marketplace.caching import MarketplaceCaches
from opscenter.catalog.settings import CatalogSettings


async def get_settings(request: Request) -> CatalogSettings:
    settings: CatalogSettings = request.app.state.settings
    return settings


async def get_store(request: Request) -> ArtifactStore:
    store: ArtifactStore = request.app.state.artifact_store
    return store


async def get_caches(request: Request) -> MarketplaceCaches:
    caches: MarketplaceCaches = request.app.state.marketplace_caches
    return caches


CachesDep = Annotated[MarketplaceCaches, Depends(get_caches)]
SettingsDep = Annotated[CatalogSettings, Depends(get_settings)]
StoreDep = Annotated[ArtifactStore, Depends(get_store)]

PluginRef = Annotated[
    str,
    Path(
        min_length=1,
        max_length=64,
        description="The plugin's UUID or its slug (a slug never has a UUID's shape).",
    ),
]
SlugPath = Annotated[str, Path(min_length=1, max_length=64, description="The plugin's slug")]
VersionPath = Annotated[str, Path(min_length=1, max_length=256, description="A SemVer version")]
