"""Review rows, votes, the moderation log, the rate-limit ledger, and the list's SQL.
Flushes, never commits.

The list (the hot read) is one plain SQL statement on a pooled connection, outside any
transaction (ADR 0010, 0011); ``page_sql`` builds it and the benchmark runs the very same
statement on raw asyncpg.
"""

# ruff: noqa: S608 - the SQL interpolates fixed fragments chosen here; values are $n parameters.

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

import asyncpg
from sqlalchemy import Table, case, delete, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from opscenter.contracts.fields import is_uuid_shaped
from opscenter.reviews.models import (
    HelpfulVote,
    InstallationProjection,
    ModerationEntry,
    PluginProjection,
    Review,
    WriteAllowance,
)
from opscenter.reviews.reviews.schemas import ReviewSort

# --- the list -------------------------------------------------------------------------------

_PAGE_COLUMNS = (
    "r.id, r.tenant_id, r.user_id, r.rating, r.title, r.body, r.version, r.helpful_count,"
    " r.hidden, r.hidden_reason, r.reply_body, r.reply_author_id, r.replied_at,"
    " r.reply_updated_at, r.created_at, r.updated_at"
)

#: Per sort: ORDER BY, the keyset condition after a cursor ($4.. hold the cursor's values),
#: and the columns the cursor holds. Within one rating, newest first.
_ORDER: dict[ReviewSort, tuple[str, str, tuple[str, ...]]] = {
    ReviewSort.NEWEST: (
        "r.created_at DESC, r.id DESC",
        "(r.created_at, r.id) < ($4::timestamptz, $5::uuid)",
        ("created_at", "id"),
    ),
    ReviewSort.HELPFUL: (
        "r.helpful_count DESC, r.created_at DESC, r.id DESC",
        "(r.helpful_count, r.created_at, r.id) < ($4::int, $5::timestamptz, $6::uuid)",
        ("helpful_count", "created_at", "id"),
    ),
    ReviewSort.HIGHEST: (
        "r.rating DESC, r.created_at DESC, r.id DESC",
        "(r.rating, r.created_at, r.id) < ($4::smallint, $5::timestamptz, $6::uuid)",
        ("rating", "created_at", "id"),
    ),
    ReviewSort.LOWEST: (
        "r.rating, r.created_at DESC, r.id DESC",
        "(r.rating > $4::smallint OR (r.rating = $4::smallint"
        " AND (r.created_at, r.id) < ($5::timestamptz, $6::uuid)))",
        ("rating", "created_at", "id"),
    ),
}


def cursor_columns(sort: ReviewSort) -> tuple[str, ...]:
    return _ORDER[sort][2]


def page_sql(sort: ReviewSort, *, by_id: bool, rating: bool, after: bool) -> str:
    """The list's one statement: the plugin row (its slug, or its id when ``by_id``, in $1)
    with its summary, joined to its page of reviews; no review: one row whose review columns
    are NULL. $2 the rating (filtered on when ``rating``, so the index on (plugin, rating)
    applies), $3 whether hidden reviews are included, then the cursor's values when ``after``,
    then the LIMIT. Whether the reviewer's tenant still has the plugin is looked up for the
    page's rows only (an index probe each)."""
    order, keyset, columns = _ORDER[sort]
    where = "r.plugin_id = p.plugin_id AND ($3 OR NOT r.hidden)"
    where += " AND r.rating = $2::smallint" if rating else " AND $2::smallint IS NULL"
    if after:
        where += f" AND {keyset}"
    limit = 4 + (len(columns) if after else 0)
    plugin = "p.plugin_id = $1::uuid" if by_id else "p.slug = $1"
    return (
        "SELECT p.plugin_id, p.slug, p.rating_1, p.rating_2, p.rating_3, p.rating_4, p.rating_5,"
        f" {_PAGE_COLUMNS}, i.installed IS NOT NULL AS still_installed"
        f" FROM plugins p LEFT JOIN LATERAL (SELECT {_PAGE_COLUMNS} FROM reviews r"
        f" WHERE {where} ORDER BY {order} LIMIT ${limit}) r ON true"
        # LIMIT 1: an index probe per row of the page, never a hash of every installation.
        " LEFT JOIN LATERAL (SELECT true AS installed FROM installations i"
        " WHERE i.tenant_id = r.tenant_id AND i.plugin_id = p.plugin_id AND i.installed"
        " LIMIT 1) i ON true"
        f" WHERE {plugin} ORDER BY {order}"
    )


def page_args(
    ref: str,
    rating: int | None,
    include_hidden: bool,
    after: Sequence[Any] | None,
    limit: int,
) -> list[Any]:
    return [ref, rating, include_hidden, *(after or ()), limit]


async def page_rows(
    conn: asyncpg.Connection,
    ref: str,
    sort: ReviewSort,
    *,
    rating: int | None,
    include_hidden: bool,
    after: Sequence[Any] | None,
    limit: int,
) -> list[asyncpg.Record]:
    by_id = is_uuid_shaped(ref)
    sql = page_sql(sort, by_id=by_id, rating=rating is not None, after=after is not None)
    # An id in any form Python reads (braces, URN) goes to Postgres in its canonical one.
    key = str(uuid.UUID(ref)) if by_id else ref
    return list(await conn.fetch(sql, *page_args(key, rating, include_hidden, after, limit)))


# --- writes ---------------------------------------------------------------------------------


async def plugin_for_update(session: AsyncSession, ref: str) -> PluginProjection | None:
    """The plugin, row-locked: the per-plugin lock every review change holds until it commits,
    so changes of one plugin's reviews (and their summaries) apply one after another."""
    cond = (
        PluginProjection.plugin_id == uuid.UUID(ref)
        if is_uuid_shaped(ref)
        else PluginProjection.slug == ref
    )
    stmt = select(PluginProjection).where(cond).with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()


async def plugin(session: AsyncSession, ref: str) -> PluginProjection | None:
    cond = (
        PluginProjection.plugin_id == uuid.UUID(ref)
        if is_uuid_shaped(ref)
        else PluginProjection.slug == ref
    )
    return (await session.execute(select(PluginProjection).where(cond))).scalar_one_or_none()


@dataclass(frozen=True)
class TenantInstall:
    version: str
    installed: bool


async def tenant_install(
    session: AsyncSession, tenant_id: str, plugin_id: uuid.UUID
) -> TenantInstall | None:
    """The tenant's current installation of the plugin, else its latest past one; None when it
    never had one."""
    row = (
        await session.execute(
            select(InstallationProjection.version, InstallationProjection.installed)
            .where(
                InstallationProjection.tenant_id == tenant_id,
                InstallationProjection.plugin_id == plugin_id,
            )
            .order_by(
                InstallationProjection.installed.desc(), InstallationProjection.updated_at.desc()
            )
            .limit(1)
        )
    ).first()
    return None if row is None else TenantInstall(row.version, row.installed)


async def still_installed(session: AsyncSession, tenant_id: str, plugin_id: uuid.UUID) -> bool:
    found = await tenant_install(session, tenant_id, plugin_id)
    return found is not None and found.installed


async def review_of_user(
    session: AsyncSession, plugin_id: uuid.UUID, user_id: str
) -> Review | None:
    stmt = select(Review).where(Review.plugin_id == plugin_id, Review.user_id == user_id)
    return (await session.execute(stmt)).scalar_one_or_none()


async def review(
    session: AsyncSession, plugin_id: uuid.UUID, review_id: uuid.UUID, *, for_update: bool = False
) -> Review | None:
    stmt = select(Review).where(Review.id == review_id, Review.plugin_id == plugin_id)
    if for_update:
        stmt = stmt.with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()


async def review_by_id(session: AsyncSession, review_id: uuid.UUID) -> Review | None:
    return await session.get(Review, review_id)


async def add(session: AsyncSession, row: Review) -> None:
    session.add(row)
    await session.flush()


async def remove(session: AsyncSession, row: Review) -> None:
    await session.execute(delete(Review).where(Review.id == row.id))


async def recount(session: AsyncSession, plugin: PluginProjection) -> dict[int, int]:
    """Recomputes the plugin's summary columns from its visible reviews (the caller holds the
    plugin's lock, so no other change of its reviews is in between); returns the histogram."""
    await session.flush()
    rows = await session.execute(
        select(Review.rating, func.count())
        .where(Review.plugin_id == plugin.plugin_id, Review.hidden.is_(False))
        .group_by(Review.rating)
    )
    counts = {int(rating): int(n) for rating, n in rows.all()}
    plugin.rating_1, plugin.rating_2, plugin.rating_3, plugin.rating_4, plugin.rating_5 = (
        counts.get(star, 0) for star in (1, 2, 3, 4, 5)
    )
    plugin.rating_count = sum(counts.values())
    plugin.rating_sum = sum(star * n for star, n in counts.items())
    await session.flush()
    return counts


async def add_vote(session: AsyncSession, review_id: uuid.UUID, user_id: str) -> int | None:
    """Counts the user's vote once: the new helpful count, or None when they had voted."""
    inserted = await session.execute(
        insert(HelpfulVote)
        .values(review_id=review_id, user_id=user_id)
        .on_conflict_do_nothing()
        .returning(HelpfulVote.user_id)
    )
    if inserted.first() is None:
        return None
    result = await session.execute(
        update(Review)
        .where(Review.id == review_id)
        .values(helpful_count=Review.helpful_count + 1)
        .returning(Review.helpful_count)
    )
    return int(result.scalar_one())


async def log_moderation(session: AsyncSession, entry: ModerationEntry) -> None:
    session.add(entry)
    await session.flush()


async def moderation_entries(
    session: AsyncSession, review_id: uuid.UUID
) -> Sequence[ModerationEntry]:
    stmt = (
        select(ModerationEntry)
        .where(ModerationEntry.review_id == review_id)
        .order_by(ModerationEntry.created_at.desc(), ModerationEntry.id.desc())
    )
    return (await session.execute(stmt)).scalars().all()


async def take_write(
    session: AsyncSession, user_id: str, *, window_start: datetime, limit: int
) -> bool:
    """Counts one write of ``user_id`` in the window starting at ``window_start``; False (and
    nothing counted) when the user has made ``limit`` writes in it already. One row per user,
    so concurrent writes of one user queue on it in every API process."""
    table = cast(Table, WriteAllowance.__table__)
    stmt = insert(table).values(user_id=user_id, window_start=window_start, writes=1)
    expired = table.c.window_start < stmt.excluded.window_start
    upsert = stmt.on_conflict_do_update(
        index_elements=["user_id"],
        set_={
            "window_start": func.greatest(table.c.window_start, stmt.excluded.window_start),
            "writes": case((expired, 1), else_=table.c.writes + 1),
        },
        where=or_(expired, table.c.writes < limit),
    ).returning(table.c.writes)
    return (await session.execute(upsert)).first() is not None
