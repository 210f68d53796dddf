"""FastAPI dependencies shared by the catalog's endpoints (HTTP layer only)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Path, Request

from opscenter.catalog.artifacts import ArtifactStore
from opscenter.catalog.marketplace.facet_cache import FacetCache
from opscenter.catalog.settings import CatalogSettings


def get_settings(request: Request) -> CatalogSettings:
    settings: CatalogSettings = request.app.state.settings
    return settings


def get_store(request: Request) -> ArtifactStore:
    store: ArtifactStore = request.app.state.artifact_store
    return store


def get_facet_cache(request: Request) -> FacetCache[Any]:
    cache: FacetCache[Any] = request.app.state.facet_cache
    return cache


FacetCacheDep = Annotated[FacetCache[Any], Depends(get_facet_cache)]
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
