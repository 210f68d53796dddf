# ruff: noqa: S608  -- SQL is assembled from constant fragments; every value is a bind.
"""The marketplace search query, built as one parameterised SQL statement.

Matching: the query's words become a prefix ``tsquery`` (``graf:* & dash:*``, config ``simple``)
against ``plugins.search_vector`` (GIN), OR a trigram word-similarity hit on the name
(``:q <% name``, GIN ``gin_trgm_ops``), so "grafna" still finds "Grafana".

Relevance (one SQL expression, ``RELEVANCE_SQL``)::

    text      = least(1, 2 * ts_rank(search_vector, tsq, 32) + 0.5 * word_similarity(q, name))
    quality   = 0.20 * bayesian_rating / 5
              + 0.15 * ln(1 + installs) / ln(1 + 1e6)
              + 0.05 * exp(-days_since_latest_release / 180)
    relevance = (0.60 * text + quality)
              * (verified ? 1 : 0.5) * (deprecated ? 0.5 : 1)

``ts_rank`` weighs name (A) over tags (B) over description (C); normalisation 32 maps it into
[0, 1). Without ``q`` the text term is 0 and relevance ranks by quality alone. Recency is measured
from a reference time carried in the cursor, so a score does not drift between pages.

Pagination is keyset on ``(sort key, id)``; the cursor is opaque (see ``pagination``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

SORTS = ("relevance", "popular", "rating", "newest", "name")
_WORD = re.compile(r"[a-z0-9]+")

RELEVANCE_SQL = (
    "((0.60 * {text} "
    "+ 0.20 * p.rating_bayesian / 5.0 "
    "+ 0.15 * ln(1 + greatest(p.install_count, 0)) / ln(1000001.0) "
    "+ 0.05 * exp(-greatest(extract(epoch FROM (to_timestamp(CAST(:ref AS float8)) "
    "- coalesce(p.latest_published_at, p.created_at))), 0) / 15552000.0)) "
    "* (CASE WHEN p.verified THEN 1.0 ELSE 0.5 END) "
    "* (CASE WHEN p.deprecated THEN 0.5 ELSE 1.0 END))::float8"
)
TEXT_SQL = (
    "least(1.0, 2 * ts_rank(p.search_vector, to_tsquery('simple', :tsq), 32) "
    "+ 0.5 * word_similarity(:q, p.name))"
)

LISTED = "p.banned_at IS NULL AND p.latest_version IS NOT NULL"

ITEM_COLUMNS = (
    "p.id, p.slug, p.name, p.description, p.type, p.category, p.tags, p.latest_version, "
    "p.verified, (p.featured_rank IS NOT NULL AND (p.featured_until IS NULL "
    "OR p.featured_until > now())) AS featured, p.pricing, p.rating_average, p.rating_count, "
    "p.rating_bayesian, p.install_count, p.publisher_id, p.deprecated, p.replacement_slug, "
    "p.latest_published_at"
)


def prefix_tsquery(q: str) -> str | None:
    """``'graf dash'`` -> ``'graf:* & dash:*'``; None when ``q`` has no word characters."""
    words = _WORD.findall(q.lower())[:8]
    return " & ".join(f"{w}:*" for w in words) or None


@dataclass
class SearchParams:
    q: str | None = None
    category: str | None = None
    type: str | None = None
    tag: str | None = None
    pricing: str | None = None
    verified: bool | None = None
    compatible_key: int | None = None
    sort: str = "relevance"
    limit: int = 20
    after: list[Any] | None = None  # the cursor's (key, id) of the last row
    ref_epoch: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)


def _sort_key(params: SearchParams) -> tuple[str, bool]:
    """(SQL of the sort key, descending)."""
    if params.sort == "relevance":
        text = TEXT_SQL if params.q and prefix_tsquery(params.q) else "0"
        return RELEVANCE_SQL.format(text=text), True
    return {
        "popular": ("p.install_count", True),
        "rating": ("p.rating_bayesian", True),
        "newest": ("p.latest_published_at", True),
        "name": ("p.name", False),
    }[params.sort]


def where_clause(params: SearchParams, binds: dict[str, Any]) -> str:
    conds = [LISTED]
    if params.q:
        tsq = prefix_tsquery(params.q)
        binds["q"] = params.q
        if tsq:
            binds["tsq"] = tsq
            conds.append("(p.search_vector @@ to_tsquery('simple', :tsq) OR :q <% p.name)")
        else:
            conds.append(":q <% p.name")
    if params.category:
        binds["category"] = params.category
        conds.append("p.category = :category")
    if params.type:
        binds["type"] = params.type
        conds.append("p.type = :type")
    if params.tag:
        binds["tag"] = params.tag
        conds.append("p.tags @> ARRAY[CAST(:tag AS varchar)]")
    if params.pricing == "free":
        conds.append("p.is_free")
    elif params.pricing == "paid":
        conds.append("NOT p.is_free")
    if params.verified is not None:
        binds["verified"] = params.verified
        conds.append("p.verified = :verified")
    if params.compatible_key is not None:
        binds["compat_key"] = params.compatible_key
        conds.append("p.compat @> CAST(:compat_key AS bigint)")
    return " AND ".join(conds)


def search_sql(params: SearchParams) -> tuple[str, dict[str, Any]]:
    """The page query: items plus ``sort_key``, one row more than ``limit``."""
    binds: dict[str, Any] = {"limit": params.limit + 1, "ref": params.ref_epoch}
    where = where_clause(params, binds)
    key, desc = _sort_key(params)
    order = "DESC" if desc else "ASC"
    if params.after is not None:
        binds["after_key"], binds["after_id"] = params.after
        cmp = "<" if desc else ">"
        if params.sort == "newest":
            key_expr = "coalesce(p.latest_published_at, 'epoch'::timestamptz)"
            binds["after_key"] = datetime.fromisoformat(str(params.after[0]))
            where += (
                f" AND ({key_expr}, p.id) {cmp} "
                "(CAST(:after_key AS timestamptz), CAST(:after_id AS uuid))"
            )
        else:
            cast = {"relevance": "float8", "rating": "float8", "popular": "int", "name": "text"}[
                params.sort
            ]
            lhs = f"{key}::text" if cast == "text" else key
            where += (
                f" AND ({lhs}, p.id) {cmp} (CAST(:after_key AS {cast}), CAST(:after_id AS uuid))"
            )
    if params.sort == "newest":
        key = "coalesce(p.latest_published_at, 'epoch'::timestamptz)"
    sql = (
        f"SELECT {ITEM_COLUMNS}, {key} AS sort_key FROM plugins p WHERE {where} "
        f"ORDER BY sort_key {order}, p.id {order} LIMIT :limit"
    )
    return sql, binds


def facets_sql(params: SearchParams) -> tuple[str, dict[str, Any]]:
    """Counts per category, type, pricing and verified over every match (not one page)."""
    binds: dict[str, Any] = {}
    where = where_clause(params, binds)
    sql = (
        "SELECT p.category, p.type, p.is_free, p.verified, count(*) AS n "
        f"FROM plugins p WHERE {where} "
        "GROUP BY GROUPING SETS ((p.category), (p.type), (p.is_free), (p.verified))"
    )
    return sql, binds


_NAMED = re.compile(r"(?<![:\w]):([a-z_]+)")


def to_asyncpg(sql: str, binds: dict[str, Any]) -> tuple[str, list[Any]]:
    """The same statement with ``$n`` placeholders, for running it straight through asyncpg."""
    order: list[str] = []

    def sub(m: re.Match[str]) -> str:
        name = m.group(1)
        if name not in order:
            order.append(name)
        return f"${order.index(name) + 1}"

    return _NAMED.sub(sub, sql), [binds[n] for n in order]
