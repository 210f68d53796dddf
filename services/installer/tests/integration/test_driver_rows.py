"""The installer's driver rows on the real Postgres: a snapshot can no longer be changed and
committed silently, a row read for update that is moved but not written back fails its commit,
and a page of installations costs the same statements whatever its length."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from asyncpg.connection import LoggedQuery
from sqlalchemy import event, func, select

from opscenter.contracts import InstallationAction
from opscenter.installer.config import ConfigCipher
from opscenter.installer.installations import repository as repo
from opscenter.installer.installations.service import list_page, transition
from opscenter.installer.models import Installation, InstallationHistory
from opscenter.servicekit.driver import SnapshotIsReadOnly, UnwrittenChanges, driver


def name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


async def enabled_plugin(catalog, tenant) -> str:
    slug = name("snap")
    await catalog.publish(slug, "1.0.0")
    assert (await tenant.install(slug, enable=True)).status_code == 202
    await tenant.wait_state(slug, "enabled")
    return slug


async def stored(worker, tenant_id: str, slug: str) -> tuple[str, int]:
    """The installation's state and its number of history rows, as committed."""
    async with worker.sessions() as session:
        installation = (
            await session.execute(
                select(Installation).where(
                    Installation.tenant_id == tenant_id, Installation.slug == slug
                )
            )
        ).scalar_one()
        rows = await session.execute(
            select(func.count()).where(InstallationHistory.installation_id == installation.id)
        )
        return installation.state, int(rows.scalar_one())


async def test_a_snapshot_cannot_be_moved_and_committed_silently(catalog, new_tenant, worker):
    tenant = new_tenant()
    slug = await enabled_plugin(catalog, tenant)
    before = await stored(worker, tenant.id, slug)
    async with worker.uow() as uow:
        [snapshot] = await repo.tenants_snapshots(uow.session, [tenant.id])
        with pytest.raises(SnapshotIsReadOnly):
            await transition(uow.session, snapshot, InstallationAction.DISABLE, actor="test")
        with pytest.raises(SnapshotIsReadOnly):
            snapshot.status_reason = "changed"
        await uow.commit()
    assert await stored(worker, tenant.id, slug) == before == ("enabled", 3)


async def test_a_row_for_update_moved_without_writing_it_back_fails_the_commit(
    catalog, new_tenant, worker
):
    tenant = new_tenant()
    slug = await enabled_plugin(catalog, tenant)
    before = await stored(worker, tenant.id, slug)

    async def disable_without_writing_back() -> None:
        async with worker.uow() as uow:
            await repo.lock_tenant(uow.session, tenant.id)
            [row] = await repo.tenant_for_update(uow.session, tenant.id)
            # The ORM writes the history row; the row itself is the driver's.
            await transition(uow.session, row, InstallationAction.DISABLE, actor="test")
            await uow.commit()

    with pytest.raises(UnwrittenChanges, match="Installation"):
        await disable_without_writing_back()
    assert await stored(worker, tenant.id, slug) == before  # neither the state nor its history


async def test_a_page_costs_the_same_statements_whatever_its_length(
    catalog, new_tenant, worker, settings
):
    cipher = ConfigCipher(settings.secret_key.get_secret_value(), settings.hooks_config_public_key)
    base, top = name("base"), name("top")
    await catalog.publish(base, "1.0.0")
    await catalog.publish(top, "1.0.0", deps={base: "^1.0.0"})
    one, three = new_tenant(), new_tenant()
    await enabled_plugin(catalog, one)
    assert (await three.install(top, enable=True)).status_code == 202
    await three.wait_state(top, "enabled")
    await enabled_plugin(catalog, three)

    async def statements_of_a_page(tenant_id: str) -> tuple[int, int]:
        sent: list[str] = []

        def driver_sent(record: LoggedQuery) -> None:  # the driver's plain statements
            sent.append(record.query)

        def orm_sent(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
            sent.append(statement)

        # Listen on this session's own connection: the in-process worker's consumers share
        # the engine and may run statements meanwhile (they did under load).
        async with worker.sessions() as session:
            own = (await session.connection()).sync_connection
            event.listen(own, "before_cursor_execute", orm_sent)
            conn = await driver(session)
            conn.add_query_logger(driver_sent)
            try:
                page = await list_page(session, cipher, tenant_id, cursor=None, limit=50)
            finally:
                conn.remove_query_logger(driver_sent)
                event.remove(own, "before_cursor_execute", orm_sent)
        selects = [q for q in sent if q.lstrip().upper().startswith("SELECT")]
        return len(page["items"]), len(selects)

    items_one, sent_one = await statements_of_a_page(one.id)
    items_three, sent_three = await statements_of_a_page(three.id)
    assert (items_one, items_three) == (1, 3)
    # page, versions, entitlements (+ the tenant's rows when a version has dependencies)
    assert sent_one == 3
    assert sent_three == 4
