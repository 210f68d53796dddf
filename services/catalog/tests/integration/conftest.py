"""One migrated catalog database and one app for the integration tests (real Postgres)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from opscenter.catalog.main import create_app
from opscenter.catalog.settings import CatalogSettings
from opscenter.catalog.testing import Tokens, manifest, package, unique_slug
from opscenter.servicekit.testing import LocalStack, drop_database, migrated_database


@pytest.fixture(scope="session")
async def db_url(local_stack: LocalStack) -> AsyncIterator[str]:
    url = await migrated_database(local_stack, "catalog")
    yield url
    await drop_database(local_stack, url)


@pytest.fixture(scope="session")
def settings(db_url: str, local_stack: LocalStack, tmp_path_factory: pytest.TempPathFactory):
    return CatalogSettings(
        database_url=db_url,
        kafka_bootstrap=local_stack.kafka_bootstrap,
        artifact_root=str(tmp_path_factory.mktemp("artifacts")),
        max_package_bytes=2 * 1024 * 1024,
        max_files=50,
        max_unpacked_bytes=100 * 1024 * 1024,
        log_json=False,
    )


@pytest.fixture(scope="session")
async def client(settings: CatalogSettings) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
        yield c
    await app.state.runtime.dispose()


@pytest.fixture(scope="session")
def tokens(settings: CatalogSettings) -> Tokens:
    return Tokens(settings)


@pytest.fixture
def publisher() -> str:
    return f"pub-{uuid.uuid4().hex[:8]}"


Upload = Callable[..., Awaitable[httpx.Response]]


@pytest.fixture
def upload(client: httpx.AsyncClient, tokens: Tokens) -> Upload:
    async def do(
        publisher_id: str, data: bytes, *, filename: str = "p.tar.gz", **fields: str
    ) -> httpx.Response:
        return await client.post(
            "/api/v1/plugins/upload",
            headers=tokens.developer(publisher_id),
            files={"package": (filename, data, "application/octet-stream")},
            data=fields,
        )

    return do


Register = Callable[..., Awaitable[dict[str, Any]]]


@pytest.fixture
def register(client: httpx.AsyncClient, tokens: Tokens) -> Register:
    async def do(publisher_id: str, slug: str | None = None, **over: Any) -> dict[str, Any]:
        body = {
            "slug": slug or unique_slug(),
            "name": over.pop("name", "Device Watcher"),
            "description": over.pop("description", "Watches devices"),
            "type": "backend",
            "category": over.pop("category", "monitoring"),
            "tags": over.pop("tags", ["devices"]),
            **over,
        }
        r = await client.post(
            "/api/v1/plugins/register", json=body, headers=tokens.developer(publisher_id)
        )
        assert r.status_code == 201, r.text
        return r.json()

    return do


Publish = Callable[..., Awaitable[dict[str, Any]]]


@pytest.fixture
def publish(register: Register, upload: Upload) -> Publish:
    """Registers (when needed) and publishes a version; returns the upload's answer."""

    async def do(
        publisher_id: str, slug: str | None = None, version: str = "1.0.0", **m: Any
    ) -> dict[str, Any]:
        if slug is None:
            slug = (await register(publisher_id, name=m.get("name", "Device Watcher")))["slug"]
        r = await upload(publisher_id, package(manifest(slug, version, **m)))
        assert r.status_code == 201, r.text
        return r.json()

    return do


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "integration" in str(Path(str(item.fspath))):
            item.add_marker(pytest.mark.integration)
