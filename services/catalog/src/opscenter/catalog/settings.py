from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from opscenter.servicekit.settings import ServiceSettings

MIB = 1024 * 1024


class CatalogSettings(ServiceSettings):
    """Catalog settings (env prefix ``CATALOG_``); package limits refuse hostile archives."""

    model_config = SettingsConfigDict(env_prefix="CATALOG_", extra="ignore")

    service_name: str = "catalog"

    artifact_root: str = ".local/artifacts/catalog"
    #: Compressed upload size; larger uploads answer 413 while they stream in.
    max_package_bytes: int = Field(default=20 * MIB, ge=1)
    #: Members of an archive (files and folders).
    max_files: int = Field(default=2000, ge=1)
    #: Sum of the members' uncompressed sizes.
    max_unpacked_bytes: int = Field(default=200 * MIB, ge=1)
    #: Uncompressed / compressed size above which an archive (or zip member) is a bomb.
    max_compression_ratio: float = Field(default=100.0, gt=1)
    #: Marketplace facet counts may lag by at most this long (per process; 0 = no cache). While
    #: the listing listener is up, listing changes also empty the facet cache at once.
    facet_cache_seconds: float = Field(default=30.0, ge=0)
    #: Cached marketplace search pages live at most this long (0 = no search cache). Listing
    #: changes empty the cache at once (ADR 0008); this bounds only how stale rating summaries
    #: and install counts (which just reorder) may be.
    search_cache_seconds: float = Field(default=30.0, ge=0)
    #: After its TTL a page is still served for this long while one background query replaces
    #: it (stale-while-revalidate), so a popular query never waits when its TTL runs out. Counts
    #: may then lag by up to search_cache_seconds + this. Listing changes still empty at once.
    search_cache_stale_seconds: float = Field(default=30.0, ge=0)
    search_cache_max_entries: int = Field(default=20_000, ge=1)
    #: Bytes of cached response bodies per process.
    search_cache_max_bytes: int = Field(default=64 * MIB, ge=1)
    #: How often the listening connection is pinged (a dead one disables the search cache).
    listing_listener_ping_seconds: float = Field(default=5.0, gt=0)
