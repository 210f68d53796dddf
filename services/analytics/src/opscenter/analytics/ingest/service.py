"""Folding a batch of events into counter deltas, applied with one statement per table.

Invariants:
- The consumer's inbox has claimed every event passed in, in the same transaction: each event
  reaches the counters exactly once, whatever Kafka redelivers or a crash rolls back.
- A batch costs a fixed number of statements, whatever its size: the events are summed per
  row key in Python first, then each table gets one ``INSERT ... SELECT FROM unnest(...)
  ON CONFLICT DO UPDATE`` (rows sorted by key, so two consumers lock rows in the same order).
- Events go to ``hour`` rows; an hour the roll-up has already passed also gets its ``day`` row
  (the roll-up will not look at it again), and a latency its month row (``latency_months``
  is the sum of its month's day rows).
- ``active_installs`` moves only on an installation's newest transition: installed +1 (if it was
  not counted), uninstalled -1 (if it was), upgraded moves it from the old version to the new.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol, TypeAlias, TypeVar, cast
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from opscenter.analytics import sketch
from opscenter.analytics.buckets import floor, month_floor
from opscenter.analytics.ingest import repository as repo
from opscenter.analytics.models import COUNTER_COLUMNS
from opscenter.contracts import CloudEvent, EventPayload, parse_payload
from opscenter.contracts.catalog import (
    PluginDownloadedV1,
    PluginRegisteredV1,
    PluginUpdatedV1,
    PluginVersionPublishedV1,
)
from opscenter.contracts.hooks import (
    DeliveryDeadLetteredV1,
    DeliveryFailedV1,
    DeliverySucceededV1,
)
from opscenter.contracts.installer import (
    EntitlementChangedV1,
    InstallationDisabledV1,
    InstallationEnabledV1,
    InstallationInstalledV1,
    InstallationUninstalledV1,
    InstallationUpgradedV1,
)
from opscenter.contracts.reviews import RatingSummaryChangedV1

_COLUMN = {name: i for i, name in enumerate(COUNTER_COLUMNS)}

_LISTINGS = (PluginRegisteredV1, PluginUpdatedV1, PluginVersionPublishedV1)
_DELIVERIES = (DeliverySucceededV1, DeliveryFailedV1, DeliveryDeadLetteredV1)
_TRANSITIONS = (InstallationInstalledV1, InstallationUninstalledV1, InstallationUpgradedV1)
_SIMPLE_COUNTS: dict[type[EventPayload], str] = {
    InstallationInstalledV1: "installs",
    InstallationUninstalledV1: "uninstalls",
    InstallationEnabledV1: "enables",
    InstallationDisabledV1: "disables",
    PluginDownloadedV1: "downloads",
}

#: The event types this consumer acts on; others (new types included) are passed over.
_HANDLED: tuple[type[EventPayload], ...] = (
    *_LISTINGS,
    *_DELIVERIES,
    *_SIMPLE_COUNTS,
    InstallationUpgradedV1,
    EntitlementChangedV1,
    RatingSummaryChangedV1,
)
HANDLED_TYPES = frozenset(cls.event_type for cls in _HANDLED)

CountKey = tuple[UUID, datetime, str]  # plugin, hour, version ('' for none)
K = TypeVar("K", bound=tuple[Any, ...])
V = TypeVar("V")
Listing: TypeAlias = PluginRegisteredV1 | PluginUpdatedV1 | PluginVersionPublishedV1
Transition: TypeAlias = InstallationInstalledV1 | InstallationUninstalledV1 | InstallationUpgradedV1


@dataclass
class BatchFold:
    """A batch's effect, summed per row key (hour buckets)."""

    counts: defaultdict[CountKey, list[int]] = field(
        default_factory=lambda: defaultdict(lambda: [0] * len(COUNTER_COLUMNS))
    )
    latencies: defaultdict[tuple[UUID, datetime, int], int] = field(
        default_factory=lambda: defaultdict(int)
    )
    revenue: defaultdict[tuple[UUID, datetime, str], list[Decimal]] = field(
        default_factory=lambda: defaultdict(lambda: [Decimal(0)] * 4)
    )
    ratings: dict[tuple[UUID, datetime], tuple[datetime, float, int]] = field(default_factory=dict)
    directory: dict[UUID, tuple[str, str | None]] = field(default_factory=dict)
    transitions: list[tuple[datetime, Transition]] = field(default_factory=list)

    def count(self, plugin: UUID, version: str, hour: datetime, column: str, by: int = 1) -> None:
        self.counts[(plugin, hour, version)][_COLUMN[column]] += by


class _OfPlugin(Protocol):
    """Every handled payload but a delivery's names its plugin (``HANDLED_TYPES``)."""

    plugin_id: UUID


class _OfVersion(Protocol):
    """Every ``_SIMPLE_COUNTS`` payload names the version it counts for."""

    version: str


# What the fold does with a payload, by its class, looked up by ``type(payload)`` once per
# event: the ``isinstance`` chains it replaces went through ABCMeta's ``__instancecheck__`` up to
# six times an event (pydantic models). A class not in the table (a subclass) is classified
# once by ``issubclass`` and remembered.
_SUCCEEDED, _FAILED, _DEAD, _LISTING, _TRANSITION, _ENTITLEMENT, _RATING, _OTHER = range(8)
_KINDS: dict[type, int] = {}
_CLASSES: tuple[tuple[type | tuple[type, ...], int], ...] = (
    (DeliverySucceededV1, _SUCCEEDED),
    (DeliveryFailedV1, _FAILED),
    (DeliveryDeadLetteredV1, _DEAD),
    (_LISTINGS, _LISTING),
    (_TRANSITIONS, _TRANSITION),
    (EntitlementChangedV1, _ENTITLEMENT),
    (RatingSummaryChangedV1, _RATING),
)


def _kind(cls: type) -> int:
    kind = next((k for bases, k in _CLASSES if issubclass(cls, bases)), _OTHER)
    _KINDS[cls] = kind
    return kind


def fold(events: Sequence[CloudEvent]) -> BatchFold:
    """Sums the batch per row key; raises ``ContractError`` for an event whose payload is bad
    (the consumer then retries the events alone and dead-letters that one)."""
    out = BatchFold()
    for event in events:
        payload = parse_payload(event)
        hour = event.time.replace(minute=0, second=0, microsecond=0)  # the envelope's is UTC
        cls = type(payload)
        kind = _KINDS.get(cls)
        if kind is None:
            kind = _kind(cls)
        if kind <= _DEAD:
            delivery = cast(DeliverySucceededV1, payload)  # any of the three: same fields
            plugin = delivery.plugin_id
            out.count(plugin, "", hour, "deliveries")
            if kind != _SUCCEEDED:
                out.count(plugin, "", hour, "failures")
            if kind == _DEAD:
                out.count(plugin, "", hour, "dead_letters")
            out.latencies[(plugin, hour, sketch.bucket_index(delivery.latency_ms))] += 1
            continue
        slug = getattr(payload, "slug", None)
        plugin_id = cast(_OfPlugin, payload).plugin_id
        publisher = cast(Listing, payload).publisher_id if kind == _LISTING else None
        known = out.directory.get(plugin_id)
        if slug is not None:
            out.directory[plugin_id] = (slug, publisher or (known[1] if known else None))
        column = _SIMPLE_COUNTS.get(cls)
        if column is not None:
            out.count(plugin_id, cast(_OfVersion, payload).version, hour, column)
        if kind == _TRANSITION:
            out.transitions.append((hour, cast(Transition, payload)))
        elif kind == _ENTITLEMENT:
            charge = cast(EntitlementChangedV1, payload)
            amounts = out.revenue[(plugin_id, hour, charge.currency)]
            amounts[0] += charge.gross_amount
            amounts[1] += charge.developer_amount
            amounts[2] += charge.platform_amount
            amounts[3] += 1 if charge.gross_amount > 0 else 0
        elif kind == _RATING:
            rating = cast(RatingSummaryChangedV1, payload)
            previous = out.ratings.get((plugin_id, hour))
            if previous is None or previous[0] <= event.time:
                out.ratings[(plugin_id, hour)] = (event.time, rating.average, rating.count)
    return out


async def apply_events(session: AsyncSession, events: Sequence[CloudEvent]) -> None:
    """Applies a claimed batch in the caller's transaction."""
    batch = fold(events)
    rolled_through = await repo.rolled_through_shared(session)
    if batch.transitions:
        await _apply_transitions(session, batch)
    if batch.directory:
        await repo.upsert_directory(session, batch.directory)
    if batch.counts:
        await repo.add_counts(session, _with_late_days(batch.counts, rolled_through, _add_ints))
    if batch.latencies:
        rows = _with_late_days(batch.latencies, rolled_through, _add_int)
        await repo.add_latencies(session, rows)
        late_days = {(key[0], key[1]) for grain, key, _ in rows if grain == "day"}
        if late_days:
            # A day row changed: so did its month's sum and the day's stored quantiles.
            months: defaultdict[tuple[UUID, datetime, int], int] = defaultdict(int)
            for grain, key, count in rows:
                if grain == "day":
                    months[(key[0], month_floor(key[1]), key[2])] += count
            await repo.add_month_latencies(session, list(months.items()))
            await repo.refresh_day_quantiles(session, list(late_days))
    if batch.revenue:
        await repo.add_revenue(
            session, _with_late_days(batch.revenue, rolled_through, _add_amounts)
        )
    if batch.ratings:
        await repo.set_ratings(session, _with_late_days(batch.ratings, rolled_through, _newest))


async def _apply_transitions(session: AsyncSession, batch: BatchFold) -> None:
    ids = list({t.installation_id for _, t in batch.transitions})
    states = await repo.installation_states_for_update(session, ids)
    changed: dict[UUID, repo.InstallationState] = {}
    for hour, event in batch.transitions:
        state = changed.get(event.installation_id) or states.get(event.installation_id)
        if state is not None and state.sequence >= event.sequence:
            continue  # older than what is held
        was_active = state is not None and state.active
        version = event.version
        if isinstance(event, InstallationInstalledV1):
            active = True
            if not was_active:
                batch.count(event.plugin_id, version, hour, "active_delta", 1)
        elif isinstance(event, InstallationUninstalledV1):
            active = False
            if was_active:
                held = state.version if state is not None else version
                batch.count(event.plugin_id, held, hour, "active_delta", -1)
        else:
            active = was_active
            version = event.to_version
            if was_active:
                held = state.version if state is not None else event.from_version
                batch.count(event.plugin_id, held, hour, "active_delta", -1)
                batch.count(event.plugin_id, version, hour, "active_delta", 1)
        changed[event.installation_id] = repo.InstallationState(
            event.installation_id, event.plugin_id, version, active, event.sequence
        )
    if changed:
        await repo.upsert_installation_states(session, list(changed.values()))


def _add_ints(a: list[int], b: list[int]) -> list[int]:
    return [x + y for x, y in zip(a, b, strict=True)]


def _add_int(a: int, b: int) -> int:
    return a + b


def _add_amounts(a: list[Decimal], b: list[Decimal]) -> list[Decimal]:
    return [x + y for x, y in zip(a, b, strict=True)]


def _newest(
    a: tuple[datetime, float, int], b: tuple[datetime, float, int]
) -> tuple[datetime, float, int]:
    return a if a[0] >= b[0] else b


def _with_late_days(
    rows: Mapping[K, V], rolled_through: datetime, merge: Callable[[V, V], V]
) -> list[tuple[str, K, V]]:
    """``(grain, key, value)`` rows: every hour row, plus a day row (the key's hour, its second
    part, replaced by its day; values merged) for hours before ``rolled_through``. Sorted by
    plugin, grain and key, so concurrent batches lock shared rows in one order."""
    late = [key for key in rows if key[1] < rolled_through]
    if not late:  # the usual batch: nothing before the watermark
        ordered = sorted(rows.items(), key=lambda item: _sort_key("hour", item[0]))
        return [("hour", key, value) for key, value in ordered]
    out: dict[tuple[str, K], V] = {("hour", key): value for key, value in rows.items()}
    for key in late:
        value = rows[key]
        day_key = cast(K, (key[0], floor(key[1], "day"), *key[2:]))
        slot = ("day", day_key)
        out[slot] = merge(out[slot], value) if slot in out else value
    ordered_slots = sorted(out.items(), key=lambda item: _sort_key(*item[0]))
    return [(grain, key, value) for (grain, key), value in ordered_slots]


def _sort_key(grain: str, key: tuple[Any, ...]) -> tuple[Any, ...]:
    # UUIDs compare in Python code; their 128-bit ints compare in C.
    return (key[0].int, grain, *key[1:])
