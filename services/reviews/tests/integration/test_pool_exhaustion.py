"""When the database has no connection to give, the API answers 503 problem+json with
``Retry-After`` and changes nothing, never 500 (``servicekit.errors.unexpected_problem``): every
pooled connection busy past the pool timeout, or Postgres refusing a new connection."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest
from sqlalchemy.engine import make_url

from opscenter.reviews.main import create_app
from opscenter.reviews.settings import ReviewsSettings
from opscenter.servicekit.testing import LocalStack, create_database, drop_database


def assert_unavailable(r: httpx.Response) -> None:
    assert r.status_code == 503, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert int(r.headers["retry-after"]) >= 1
    problem = r.json()
    assert problem["type"].endswith("/database-unavailable")
    assert problem["status"] == 503
    assert problem["retry_after"] == int(r.headers["retry-after"])
    assert "nothing was changed" in problem["detail"]


@pytest.fixture
async def one_connection(settings: ReviewsSettings) -> AsyncIterator[httpx.AsyncClient]:
    """An API whose pool holds one connection and waits a quarter of a second for it."""
    app = create_app(settings.model_copy(update={"db_pool_size": 1, "db_pool_timeout_s": 0.25}))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        client.app = app  # type: ignore[attr-defined]
        yield client
    await app.state.runtime.dispose()


async def test_an_exhausted_pool_answers_503_with_retry_after(
    one_connection, plugin, reviewer, review_body, world
):
    app = one_connection.app
    alice = await reviewer()
    r = await one_connection.get(plugin.reviews)
    assert r.status_code == 200, r.text

    async with app.state.runtime.engine.connect() as held:  # every pooled connection busy
        assert_unavailable(await one_connection.get(plugin.reviews))
        r = await one_connection.post(plugin.reviews, json=review_body(4), headers=alice.headers)
        assert_unavailable(r)
        assert not held.closed

    # Free again: the same requests succeed, and the refused write left nothing behind.
    assert (await one_connection.get(plugin.reviews)).json()["items"] == []
    r = await one_connection.post(plugin.reviews, json=review_body(4), headers=alice.headers)
    assert r.status_code == 201, r.text
    rows = await world.rows("SELECT rating FROM reviews WHERE plugin_id = :p", p=plugin.id)
    assert rows == [{"rating": 4}]


@pytest.fixture
async def refusing_database(
    settings: ReviewsSettings, local_stack: LocalStack
) -> AsyncIterator[ReviewsSettings]:
    """Settings on a database whose every new connection Postgres refuses ("too many
    connections", as once ``max_connections`` is reached): its connection limit is 0."""
    url = await create_database(local_stack, "refusing")
    name = make_url(url).database
    admin = await asyncpg.connect(local_stack.pg_admin_dsn)
    try:
        await admin.execute(f'ALTER DATABASE "{name}" CONNECTION LIMIT 0')
        yield settings.model_copy(update={"database_url": url})
    finally:
        await admin.close()
        await drop_database(local_stack, url)


async def test_too_many_connections_answers_503_with_retry_after(refusing_database, plugin):
    app = create_app(refusing_database)
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            assert_unavailable(await client.get(plugin.reviews))
    finally:
        await app.state.runtime.dispose()
