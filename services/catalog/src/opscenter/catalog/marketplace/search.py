# ruff: noqa: S608  -- SQL is assembled from constant fragments; every value is a bind.
"""The marketplace search statements (page, typo probe, facets), each one parameterised SQL.

Matching
--------
The query's words become a prefix ``tsquery`` (``graf:* & dash:*``, config ``simple``) against
``plugins.search_vector`` (name A, tags B, description C). **Typo fallback**: only when the words
match fewer than ``TYPO_BELOW`` listed plugins (with the filters) does the match widen to
``words OR :q <% name`` (trigram word similarity, GIN ``gin_trgm_ops``), so "grafna" still finds
"Grafana" while a broad word never pays for a trigram scan. The decision ("mode") is taken on the
first page and carried in the cursor, so every page and the facets see the same match set.

Relevance (the formula of v1, evaluated on candidates only; ADR 0007)::

    text      = least(1, 2 * ts_rank(search_vector, tsq, 32) + 0.5 * word_similarity(q, name))
    boost     = (0.20 * bayesian_rating / 5 + 0.15 * ln(1 + installs) / ln(1 + 1e6))
              * (verified ? 1 : 0.5) * (deprecated ? 0.5 : 1)          -- stored: search_boost
    relevance = (0.60 * text + 0.05 * exp(-days_since_latest_release / 180))
              * (verified ? 1 : 0.5) * (deprecated ? 0.5 : 1) + boost

``search_boost`` is a generated column (Postgres recomputes it whenever the rating, installs,
verified or deprecated change, whatever code path writes them) indexed by the covering partial
index ``ix_plugins_search_rank`` (boost DESC, id DESC, INCLUDE search_vector and the filter
columns). Recency depends on the request's reference time (carried in the cursor) so it is not
stored; it is evaluated in float8 (numeric ``exp`` is several times slower per row). Without
``q`` the text term is 0 and the candidates are the ``N_ALL`` best by boost.

Candidates (the approximation, see ADR 0007)
--------------------------------------------
``ts_rank``/``word_similarity`` are computed only for a bounded candidate set:

- ``cand_all``: the ``N_ALL`` best matches by ``(search_boost, id)``;
- ``cand_head``: the ``N_HEAD`` best by boost among matches whose words hit the name or tags
  (``tsq`` with weights ``AB``), where the text rank is high;
- ``cand_typo`` (typo mode only): the ``N_TYPO`` best by boost among trigram name matches.

This is an approximation: a match outside every list is ordered after the candidates by its
static score even when its full relevance would be higher (on the bench data nearly all of
the top 20 agree with ranking every match; ``bench/RESULTS.md``). Each "best N by boost" is
found exactly, by one of two plans: walk the ``WINDOW`` best listed rows of the covering
index (index-only) and keep the matches; only if fewer than N matched there does a
one-time-filtered bitmap plan (``ORDER BY search_boost + 0`` keeps the planner off the index
walk) compute the top N over every match (then rare words, or words combined with a
selective filter). Either way the set equals "the top N by (boost, id)", independent of the
plan, of the page and of the cursor.

Order and keyset pages (relevance)
----------------------------------
Tier 1 is the candidate set ordered by ``(relevance, id)``; tier 2 is every other match ordered by
``(search_boost, id)`` (pages beyond the candidate window fall back to static-score order). The
cursor holds ``(key, id, ref, tier, typo)``; a row's tier and key are functions of the query and
the data only, so they are the same on every page. Tier 2 is only evaluated once tier 1 has fewer
rows left than the page needs. Other sorts are plain keyset on ``(column, id)``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

SORTS = ("relevance", "popular", "rating", "newest", "name")
_WORD = re.compile(r"[a-z0-9]+")

#: Below this many word matches the trigram typo fallback joins the match.
TYPO_BELOW = 20
#: Candidates ranked by full relevance: best by boost overall, among name/tag hits, among typos.
N_ALL = 100
N_HEAD = 200
N_TYPO = 100
#: How many of the best listed rows (by boost) the index-only walk looks at before the bitmap plan.
WINDOW = 3000

LISTED = "p.banned_at IS NULL AND p.latest_version IS NOT NULL"

FACTORS_SQL = (
    "(CASE WHEN p.verified THEN 1.0 ELSE 0.5 END) * (CASE WHEN p.deprecated THEN 0.5 ELSE 1.0 END)"
)
RECENCY_SQL = (
    "0.05 * exp(-greatest(CAST(extract(epoch FROM (to_timestamp(CAST(:ref AS float8)) "
    "- coalesce(p.latest_published_at, p.created_at))) AS float8), 0) / 15552000.0)"
)
TEXT_SQL = (
    "least(1.0, 2 * ts_rank(p.search_vector, to_tsquery('simple', :tsq), 32) "
    "+ 0.5 * word_similarity(:q, p.name))"
)
RELEVANCE_SQL = (
    "(((0.60 * {text} + " + RECENCY_SQL + ") * " + FACTORS_SQL + ")::float8 + p.search_boost)"
)

ITEM_COLUMNS = (
    "p.id, p.slug, p.name, p.description, p.type, p.category, p.tags, p.latest_version, "
    "p.verified, (p.featured_rank IS NOT NULL AND (p.featured_until IS NULL "
    "OR p.featured_until > now())) AS featured, p.featured_until, p.pricing, p.rating_average, "
    "p.rating_count, p.rating_bayesian, p.install_count, p.publisher_id, p.deprecated, "
    "p.replacement_slug, p.latest_published_at"
)
#: Columns of the covering index the window walk reads (filters included).
_WINDOW_COLUMNS = (
    "p.id, p.search_boost, p.search_vector, p.category, p.type, p.tags, p.is_free, p.verified, "
    "p.compat"
)


def prefix_tsquery(q: str, weights: str = "") -> str | None:
    """``'graf dash'`` -> ``'graf:* & dash:*'`` (``:*AB`` with weights); None without words."""
    words = _WORD.findall(q.lower())[:8]
    return " & ".join(f"{w}:*{weights}" for w in words) or None


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
    #: Relevance tier of the cursor's row (1 candidates, 2 the rest); None on the first page.
    after_tier: int | None = None
    #: Typo-fallback mode; None = decide (first page), else as the cursor carries it.
    typo: bool | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def tsq(self) -> str | None:
        return prefix_tsquery(self.q) if self.q else None

    def facet_key(self, typo: bool) -> tuple[Any, ...]:
        """What ``facets_sql`` depends on: the normalised words, the mode, tag and compat."""
        q = " ".join(_WORD.findall(self.q.lower())[:8]) if self.q else None
        raw = self.q.strip().lower() if self.q and (typo or not self.tsq) else None
        return (q, raw, typo, self.tag, self.compatible_key)


def _filters(params: SearchParams, binds: dict[str, Any], a: str) -> list[str]:
    """Filter conditions on alias ``a`` (``p`` or the window ``w``)."""
    conds = []
    if params.category:
        binds["category"] = params.category
        conds.append(f"{a}.category = :category")
    if params.type:
        binds["type"] = params.type
        conds.append(f"{a}.type = :type")
    if params.tag:
        binds["tag"] = params.tag
        conds.append(f"{a}.tags @> ARRAY[CAST(:tag AS varchar)]")
    if params.pricing == "free":
        conds.append(f"{a}.is_free")
    elif params.pricing == "paid":
        conds.append(f"NOT {a}.is_free")
    if params.verified is not None:
        binds["verified"] = params.verified
        conds.append(f"{a}.verified = :verified")
    if params.compatible_key is not None:
        binds["compat_key"] = params.compatible_key
        conds.append(f"{a}.compat @> CAST(:compat_key AS bigint)")
    return conds


def _text_binds(params: SearchParams, binds: dict[str, Any]) -> None:
    if params.q:
        binds["q"] = params.q
        tsq = params.tsq
        if tsq:
            binds["tsq"] = tsq
            binds["tsq_ab"] = prefix_tsquery(params.q, "AB")


def _match(params: SearchParams, typo: bool, a: str = "p") -> str:
    """The match condition in a known mode (True: words OR trigram)."""
    if not params.q:
        return "true"
    words = f"{a}.search_vector @@ to_tsquery('simple', :tsq)" if params.tsq else "false"
    if typo or not params.tsq:
        return f"({words} OR :q <% {a}.name)"
    return words


def where_clause(params: SearchParams, binds: dict[str, Any], typo: bool) -> str:
    _text_binds(params, binds)
    return " AND ".join([LISTED, _match(params, typo), *_filters(params, binds, "p")])


def _top_by_boost(
    name: str,
    params: SearchParams,
    binds: dict[str, Any],
    *,
    window_match: str,
    bitmap_match: str,
    n: int,
) -> str:
    """CTEs ``{name}_a`` (bounded index-only walk), ``{name}_b`` (bitmap plan, run only when
    the walk found fewer than ``n``) and ``{name}``: exactly the top ``n`` by (boost, id)."""
    wf = " AND ".join([window_match, *_filters(params, binds, "w")])
    pf = " AND ".join([LISTED, bitmap_match, *_filters(params, binds, "p")])
    return (
        f"{name}_a AS MATERIALIZED (SELECT w.id FROM (SELECT {_WINDOW_COLUMNS} FROM plugins p "
        f"WHERE {LISTED} ORDER BY p.search_boost DESC, p.id DESC LIMIT {WINDOW}) w "
        f"WHERE {wf} ORDER BY w.search_boost DESC, w.id DESC LIMIT {n}), "
        f"{name}_b AS MATERIALIZED (SELECT p.id FROM plugins p "
        f"WHERE (SELECT count(*) FROM {name}_a) < {n} AND {pf} "
        f"ORDER BY p.search_boost + 0 DESC, p.id DESC LIMIT {n}), "
        f"{name} AS (SELECT id FROM {name}_a UNION SELECT id FROM {name}_b)"
    )


def _candidate_ctes(params: SearchParams, binds: dict[str, Any]) -> str:
    """CTEs ``cand_all``, ``cand_head``, ``mode`` (typo flag), ``cand`` (every candidate id)."""
    parts: list[str] = []
    tsq = params.tsq if params.q else None
    if not params.q:
        parts.append(
            _top_by_boost(
                "cand_all", params, binds, window_match="true", bitmap_match="true", n=N_ALL
            )
        )
        parts.append("mode AS (SELECT false AS typo)")
        parts.append("cand AS (SELECT id FROM cand_all)")
        return "WITH " + ", ".join(parts)
    if tsq:
        parts.append(
            _top_by_boost(
                "cand_all",
                params,
                binds,
                n=N_ALL,
                window_match="w.search_vector @@ to_tsquery('simple', :tsq)",
                bitmap_match="p.search_vector @@ to_tsquery('simple', :tsq)",
            )
        )
        parts.append(
            _top_by_boost(
                "cand_head",
                params,
                binds,
                n=N_HEAD,
                window_match="w.search_vector @@ to_tsquery('simple', :tsq_ab)",
                bitmap_match="p.head_vector @@ to_tsquery('simple', :tsq)",
            )
        )
    else:
        parts.append("cand_all AS (SELECT NULL::uuid AS id WHERE false)")
        parts.append("cand_head AS (SELECT NULL::uuid AS id WHERE false)")
    if params.typo is None:
        parts.append(f"mode AS (SELECT count(*) < {TYPO_BELOW} AS typo FROM cand_all)")
    else:
        binds["typo"] = params.typo
        parts.append("mode AS (SELECT CAST(:typo AS boolean) AS typo)")
    pf = " AND ".join([LISTED, ":q <% p.name", *_filters(params, binds, "p")])
    parts.append(
        "cand_typo AS MATERIALIZED (SELECT p.id FROM plugins p WHERE (SELECT typo FROM mode) "
        f"AND {pf} ORDER BY p.search_boost + 0 DESC, p.id DESC LIMIT {N_TYPO})"
    )
    parts.append(
        "cand AS (SELECT id FROM cand_all UNION SELECT id FROM cand_head "
        "UNION SELECT id FROM cand_typo)"
    )
    return "WITH " + ", ".join(parts)


def _relevance_sql(params: SearchParams) -> tuple[str, dict[str, Any]]:
    binds: dict[str, Any] = {"limit": params.limit + 1, "ref": params.ref_epoch}
    _text_binds(params, binds)
    ctes = _candidate_ctes(params, binds)
    text = TEXT_SQL if params.q and params.tsq else "0"
    rel = RELEVANCE_SQL.format(text=text)
    tier = params.after_tier if params.after is not None else None
    # Tier 2: the other matches by (boost, id); its mode is the one ``mode`` settled on.
    t2_conds = [LISTED, *_filters(params, binds, "p"), "p.id NOT IN (SELECT id FROM cand)"]
    if params.q:
        words = "p.search_vector @@ to_tsquery('simple', :tsq)" if params.tsq else "false"
        t2_conds.append(f"({words} OR ((SELECT typo FROM mode) AND :q <% p.name))")
    select_t2 = (
        f"SELECT {ITEM_COLUMNS}, p.search_boost AS sort_key, 2 AS tier FROM plugins p "
        "WHERE {gate}" + " AND ".join(t2_conds) + "{keyset} "
        "ORDER BY p.search_boost DESC, p.id DESC LIMIT :limit"
    )
    if tier == 2:
        assert params.after is not None
        binds["after_key"], binds["after_id"] = params.after
        t2 = select_t2.format(
            gate="",
            keyset=" AND (p.search_boost, p.id) < "
            "(CAST(:after_key AS float8), CAST(:after_id AS uuid))",
        )
        sql = f"{ctes} SELECT t.*, (SELECT typo FROM mode) AS typo FROM ({t2}) t"
        return sql, binds
    keyset = ""
    if tier == 1:
        assert params.after is not None
        binds["after_key"], binds["after_id"] = params.after
        keyset = (
            " WHERE (t1.sort_key, t1.id) < (CAST(:after_key AS float8), CAST(:after_id AS uuid))"
        )
    t1 = (
        f"t1 AS MATERIALIZED (SELECT * FROM (SELECT {ITEM_COLUMNS}, {rel} AS sort_key, 1 AS tier "
        f"FROM cand c JOIN plugins p ON p.id = c.id) t1{keyset} "
        "ORDER BY t1.sort_key DESC, t1.id DESC LIMIT :limit)"
    )
    # Tier 2 exists only when a capped candidate list was full; it is read only when tier 1
    # runs out within this page.
    full = f"(SELECT count(*) FROM cand_all) >= {N_ALL}"
    if params.q:
        full = f"({full} OR (SELECT count(*) FROM cand_typo) >= {N_TYPO})"
    t2 = select_t2.format(gate=f"(SELECT count(*) FROM t1) < :limit AND {full} AND ", keyset="")
    sql = (
        f"{ctes}, {t1} SELECT t.*, (SELECT typo FROM mode) AS typo FROM "
        f"(SELECT * FROM t1 UNION ALL ({t2})) t "
        "ORDER BY t.tier, t.sort_key DESC, t.id DESC LIMIT :limit"
    )
    return sql, binds


def typo_probe_sql(params: SearchParams) -> tuple[str, dict[str, Any]]:
    """One row, ``typo``: whether the words match fewer than ``TYPO_BELOW`` plugins."""
    binds: dict[str, Any] = {}
    _text_binds(params, binds)
    probe = SearchParams(**{**params.__dict__, "typo": None})
    return f"{_candidate_ctes(probe, binds)} SELECT typo FROM mode", binds


def search_sql(params: SearchParams) -> tuple[str, dict[str, Any]]:
    """The page query: items plus ``sort_key`` (and ``tier``, ``typo``), ``limit + 1`` rows.

    For sorts other than relevance with ``q``, ``params.typo`` must be known (the cursor's, or
    ``typo_probe_sql`` on the first page)."""
    if params.sort == "relevance":
        return _relevance_sql(params)
    binds: dict[str, Any] = {"limit": params.limit + 1}
    typo = bool(params.typo)
    where = where_clause(params, binds, typo)
    key, desc = {
        "popular": ("p.install_count", True),
        "rating": ("p.rating_bayesian", True),
        "newest": ("coalesce(p.latest_published_at, 'epoch'::timestamptz)", True),
        "name": ("p.name", False),
    }[params.sort]
    order = "DESC" if desc else "ASC"
    if params.after is not None:
        binds["after_key"], binds["after_id"] = params.after
        cmp = "<" if desc else ">"
        cast = {"newest": "timestamptz", "rating": "float8", "popular": "int", "name": "text"}[
            params.sort
        ]
        if params.sort == "newest":
            binds["after_key"] = datetime.fromisoformat(str(params.after[0]))
        lhs = f"{key}::text" if cast == "text" else key
        where += f" AND ({lhs}, p.id) {cmp} (CAST(:after_key AS {cast}), CAST(:after_id AS uuid))"
    binds["typo"] = typo
    sql = (
        f"SELECT {ITEM_COLUMNS}, {key} AS sort_key, 0 AS tier, CAST(:typo AS boolean) AS typo "
        f"FROM plugins p WHERE {where} ORDER BY sort_key {order}, p.id {order} LIMIT :limit"
    )
    return sql, binds


def facets_sql(params: SearchParams, typo: bool) -> tuple[str, dict[str, Any]]:
    """The joint counts per (category, type, is_free, verified) over every match of the words
    (in ``typo`` mode) and the tag/compatibility filters. The category, type, pricing and
    verified filters are applied to these counts by the caller, so one cached result serves every
    combination of them (``facet_key``)."""
    facet_free = SearchParams(
        q=params.q, tag=params.tag, compatible_key=params.compatible_key, sort=params.sort
    )
    binds: dict[str, Any] = {}
    where = where_clause(facet_free, binds, typo)
    sql = (
        "SELECT p.category, p.type, p.is_free, p.verified, count(*) AS n "
        f"FROM plugins p WHERE {where} GROUP BY p.category, p.type, p.is_free, p.verified"
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
