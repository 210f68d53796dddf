"""End to end with the real catalog: a plugin registered and published in the catalog reaches
reviews through ``catalog.plugin``; 200 concurrent review changes end on a published summary
equal to the rows, and the catalog's detail and listing show it (``reviews.review`` consumed by
the catalog's worker)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest

from opscenter.catalog import worker as catalog_worker
from opscenter.catalog.main import create_app as create_catalog_app
from opscenter.catalog.settings import CatalogSettings
from opscenter.catalog.testing import manifest, package
from opscenter.contracts import REVIEWS_REVIEW
from opscenter.contracts.reviews import RatingSummaryChangedV1
from opscenter.reviews.summary import Summary
from opscenter.servicekit.auth import mint_dev_token
from opscenter.servicekit.consumer import subscribe
from opscenter.servicekit.kafka import create_broker
from opscenter.servicekit.testing import (
    collect_events,
    drop_database,
    migrated_database,
    running_relay,
    start_groups_at_end,
)

SUMMARY = RatingSummaryChangedV1.event_type


@dataclass
class Catalog:
    client: httpx.AsyncClient
    settings: CatalogSettings


@pytest.fixture(scope="module")
async def catalog(local_stack, runtime) -> AsyncIterator[Catalog]:
    """The catalog API, its outbox relay and its workers (ratings, install counts), in-process
    on a database of its own; listing caches off so a listing shows the rating at once."""
    url = await migrated_database(local_stack, "catalog")
    settings = CatalogSettings(
        database_url=url,
        kafka_bootstrap=local_stack.kafka_bootstrap,
        service_name=f"catalog-t{uuid.uuid4().hex[:8]}",
        search_cache_seconds=0,
        facet_cache_seconds=0,
        log_json=False,
    )
    app = create_catalog_app(settings)
    broker = create_broker(settings)
    consumers = catalog_worker.consumers(app.state.runtime, broker)
    await start_groups_at_end(
        settings.kafka_bootstrap, [(c.name, list(c.topics)) for c in consumers]
    )
    for consumer in consumers:
        subscribe(broker, consumer)
    await broker.start()
    transport = httpx.ASGITransport(app=app)
    try:
        async with (
            running_relay(url, local_stack.kafka_bootstrap),
            httpx.AsyncClient(transport=transport, base_url="http://catalog") as http,
        ):
            yield Catalog(http, settings)
    finally:
        await broker.stop()
        await app.state.runtime.dispose()
        await drop_database(local_stack, url)


@dataclass(frozen=True)
class CatalogPlugin:
    id: uuid.UUID
    slug: str
    name: str
    publisher_id: str

    @property
    def reviews(self) -> str:
        return f"/api/v1/plugins/marketplace/{self.slug}/reviews"


@pytest.fixture
async def plugin(catalog: Catalog, world) -> CatalogPlugin:
    """A plugin registered and published through the catalog's API (overrides conftest's, so
    ``reviewer`` installs this one); reviews learns of it from the catalog's event."""
    publisher = f"pub-{uuid.uuid4().hex[:8]}"
    developer = {
        "Authorization": "Bearer "
        + mint_dev_token(
            catalog.settings, sub=f"dev-{publisher}", roles=["developer"], publisher_id=publisher
        )
    }
    slug = f"rv-e2e-{uuid.uuid4().hex[:8]}"
    name = f"Reviewed {uuid.uuid4().hex[:8]}"
    r = await catalog.client.post(
        "/api/v1/plugins/register",
        json={"slug": slug, "name": name, "type": "backend", "category": "monitoring"},
        headers=developer,
    )
    assert r.status_code == 201, r.text
    upload = await catalog.client.post(
        "/api/v1/plugins/upload",
        files={"package": ("p.tar.gz", package(manifest(slug, "1.0.0", name=name)), "x")},
        headers=developer,
    )
    assert upload.status_code == 201, upload.text
    plugin_id = uuid.UUID(r.json()["id"])
    await world.wait_for("SELECT 1 FROM plugins WHERE plugin_id = :p", p=plugin_id)
    return CatalogPlugin(plugin_id, slug, name, publisher)


async def _catalog_shows(catalog: Catalog, slug: str, histogram: dict[str, int]) -> dict:
    """The catalog's detail once its histogram is ``histogram`` (or after 60 s, as it is). Not
    the count: edits keep it while the summaries they publish are still on their way."""
    deadline = asyncio.get_running_loop().time() + 60
    while True:
        detail = (await catalog.client.get(f"/api/v1/plugins/marketplace/{slug}")).json()
        if detail["histogram"] == histogram or asyncio.get_running_loop().time() > deadline:
            return detail
        await asyncio.sleep(0.3)


async def test_200_concurrent_changes_end_on_the_rows_summary_and_the_catalog_shows_it(
    catalog, client, plugin, reviewer, review_body, world, local_stack
):
    """80 reviews exist; then 100 creates, 60 edits and 40 deletes (20 of them of edited
    reviews, so an edit may find its review gone) run at once."""
    projected = await world.rows("SELECT publisher_id FROM plugins WHERE slug = :s", s=plugin.slug)
    assert projected == [{"publisher_id": plugin.publisher_id}]
    existing = [await reviewer() for _ in range(80)]
    newcomers = [await reviewer() for _ in range(100)]
    made = await asyncio.gather(
        *(
            client.post(plugin.reviews, json=review_body(1 + i % 5), headers=who.headers)
            for i, who in enumerate(existing)
        )
    )
    assert {r.status_code for r in made} == {201}
    ids = [r.json()["id"] for r in made]

    def path(i: int) -> str:
        return f"{plugin.reviews}/{ids[i]}"

    work = [
        *(
            client.post(plugin.reviews, json=review_body(1 + i * 3 % 5), headers=who.headers)
            for i, who in enumerate(newcomers)
        ),
        *(
            client.put(path(i), json=review_body(5 - i % 5), headers=existing[i].headers)
            for i in range(60)
        ),
        *(client.delete(path(i), headers=existing[i].headers) for i in range(60, 80)),
        *(client.delete(path(i), headers=existing[i].headers) for i in range(20)),
    ]
    assert len(work) == 200
    answers = await asyncio.gather(*work)
    codes = [r.status_code for r in answers]
    assert codes[:100] == [201] * 100
    assert set(codes[100:160]) <= {200, 404}
    assert codes[160:] == [204] * 40

    rows = await world.rows(
        "SELECT rating, count(*) AS n FROM reviews WHERE plugin_id = :p AND NOT hidden"
        " GROUP BY rating",
        p=plugin.id,
    )
    truth = Summary.of({r["rating"]: r["n"] for r in rows})
    assert truth.count == 80 + 100 - 40
    changes = 80 + sum(1 for c in codes if c in (200, 201, 204))
    summaries = await collect_events(
        local_stack.kafka_bootstrap,
        REVIEWS_REVIEW.name,
        where=lambda e: e.type == SUMMARY and e.data["plugin_id"] == str(plugin.id),
        count=changes,
        timeout_s=60,
    )
    assert len(summaries) == changes
    last = RatingSummaryChangedV1.model_validate(summaries[-1].data)
    assert last.histogram == dict(truth.histogram)
    assert (last.count, last.average, last.bayesian_average) == (
        truth.count,
        truth.average,
        truth.bayesian_average,
    )
    listed = (await client.get(plugin.reviews)).json()["summary"]
    assert listed["count"] == truth.count
    assert listed["histogram"] == {str(k): v for k, v in truth.histogram.items()}

    detail = await _catalog_shows(
        catalog, plugin.slug, {str(k): v for k, v in truth.histogram.items()}
    )
    assert detail["rating"]["count"] == truth.count
    assert abs(detail["rating"]["average"] - truth.average) < 1e-9
    assert abs(detail["rating"]["bayesian_average"] - truth.bayesian_average) < 1e-3
    assert detail["histogram"] == {str(k): v for k, v in truth.histogram.items()}
    listing = (
        await catalog.client.get("/api/v1/plugins/marketplace", params={"q": plugin.name})
    ).json()
    [item] = [i for i in listing["items"] if i["slug"] == plugin.slug]
    assert item["rating"]["count"] == truth.count
    assert abs(item["rating"]["average"] - truth.average) < 1e-9
