"""Entitlements: what a tenant may use of a plugin, kept apart from the installation state.

Rules:
- Free plugins get a ``free`` ledger row the first time they are installed.
- Subscriptions with ``trial_days`` start a trial on the first install; the trial is remembered
  per (tenant, plugin) forever (``trials``), so uninstalling and reinstalling does not restart it.
- Otherwise a paid plugin needs an active ``monthly``/``yearly``/``lifetime`` entitlement, which
  only an operator's billing system grants, through ``POST /api/v1/admin/entitlements`` (there
  is no card processor here). Each charge records the 70/30 developer/platform split.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Literal

from sqlalchemy.ext.asyncio import AsyncSession

from opscenter.contracts import EntitlementChangedV1, split_revenue
from opscenter.installer.entitlements import repository as repo
from opscenter.installer.events import Emit
from opscenter.installer.models import Entitlement, Trial

ChargeKind = Literal["free", "entitled", "trial", "payment_required"]


@dataclass(frozen=True)
class Charge:
    """What installing means for the tenant's bill."""

    kind: ChargeKind
    detail: str
    trial_days: int | None = None
    entitlement: str | None = None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "detail": self.detail}
        if self.trial_days is not None:
            out["trial_days"] = self.trial_days
        if self.entitlement is not None:
            out["entitlement"] = self.entitlement
        return out


def now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Charges:
    """What a plan costs: a charge per plugin, and the active ledger rows it was decided on."""

    charges: dict[uuid.UUID, Charge]
    active: dict[uuid.UUID, list[Entitlement]]


async def charges_for(
    session: AsyncSession, tenant_id: str, pricings: dict[uuid.UUID, dict[str, Any]]
) -> Charges:
    """What installing costs, for every plugin of a plan: one ledger query, plus one trial query
    only when a paid plugin has no entitlement."""
    ids = list(pricings)
    active = await repo.active_snapshots(session, tenant_id, ids, now())
    unpaid = [
        p
        for p, pricing in pricings.items()
        if not pricing.get("free") and not [e for e in active[p] if e.kind != "free"]
    ]
    used = await repo.trials_used(session, tenant_id, unpaid) if unpaid else set()
    return Charges(
        {p: _decide(pricing, active[p], p in used) for p, pricing in pricings.items()}, active
    )


def _decide(pricing: dict[str, Any], active: Sequence[Entitlement], trial_used: bool) -> Charge:
    if pricing.get("free"):
        return Charge("free", "free plugin")
    current = [e for e in active if e.kind != "free"]
    if current:
        e = current[0]
        until = f" until {e.period_end.isoformat()}" if e.period_end else ""
        return Charge("entitled", f"{e.kind} entitlement{until}", entitlement=e.kind)
    days = pricing.get("trial_days") or 0
    if not trial_used and days > 0:
        return Charge("trial", f"starts a {days}-day trial", trial_days=days)
    prices = ", ".join(
        f"{k} {pricing[k]} {pricing.get('currency', 'USD')}"
        for k in ("monthly", "yearly", "lifetime")
        if pricing.get(k)
    )
    why = "the trial was already used" if trial_used else "no trial is offered"
    return Charge("payment_required", f"needs a paid entitlement ({prices}); {why}")


def prepare_charge(
    tenant_id: str,
    plugin_id: uuid.UUID,
    slug: str,
    charge: Charge,
    active: Sequence[Entitlement],
    currency: str = "USD",
) -> tuple[list[Trial | Entitlement], list[EntitlementChangedV1]]:
    """Records what ``charges_for`` decided: a free row once, or the start of a trial. Returns
    the new rows (the caller writes them with the rest of its plan, ``write_rows``) and their
    events. ``active`` is the plugin's active ledger rows as ``charges_for`` read them in this
    transaction."""
    at = now()
    if charge.kind == "free":
        if active:
            return [], []
        row, event = _ledger_row(
            tenant_id, plugin_id, slug, "free", None, Decimal("0"), currency, "install"
        )
        return [row], [event]
    if charge.kind == "trial" and charge.trial_days:
        ends = at + timedelta(days=charge.trial_days)
        trial = Trial(tenant_id=tenant_id, plugin_id=plugin_id, started_at=at, ends_at=ends)
        row, event = _ledger_row(
            tenant_id, plugin_id, slug, "trial", ends, Decimal("0"), currency, "install"
        )
        return [trial, row], [event]
    return [], []


async def grant(
    session: AsyncSession,
    emit: Emit,
    *,
    tenant_id: str,
    plugin_id: uuid.UUID,
    slug: str,
    kind: str,
    period_end: datetime | None,
    gross: Decimal,
    currency: str,
    source: str,
) -> Entitlement:
    """The billing integration point: an operator's billing system activates a paid plan."""
    row, event = _ledger_row(tenant_id, plugin_id, slug, kind, period_end, gross, currency, source)
    session.add(row)
    await session.flush()
    await emit(event, tenant_id)
    return row


def _ledger_row(
    tenant_id: str,
    plugin_id: uuid.UUID,
    slug: str,
    kind: str,
    period_end: datetime | None,
    gross: Decimal,
    currency: str,
    source: str,
) -> tuple[Entitlement, EntitlementChangedV1]:
    developer, platform = split_revenue(gross)
    row = Entitlement(
        id=uuid.uuid4(),
        tenant_id=tenant_id,
        plugin_id=plugin_id,
        slug=slug,
        kind=kind,
        status="active",
        currency=currency,
        gross=gross,
        developer_share=developer,
        platform_share=platform,
        period_start=now(),
        period_end=period_end,
        source=source,
        created_at=now(),
    )
    event = EntitlementChangedV1(
        entitlement_id=row.id,
        tenant_id=tenant_id,
        plugin_id=plugin_id,
        slug=slug,
        kind=kind,
        status="active",
        currency=currency,
        gross_amount=gross,
        developer_amount=developer,
        platform_amount=platform,
        period_start=row.period_start,
        period_end=period_end,
    )
    return row, event


def describe(e: Entitlement | None) -> dict[str, Any] | None:
    if e is None:
        return None
    return {
        "id": str(e.id),
        "kind": e.kind,
        "status": e.status,
        "period_end": e.period_end.isoformat() if e.period_end else None,
        "gross": format(e.gross, "f"),
        "developer_share": format(e.developer_share, "f"),
        "platform_share": format(e.platform_share, "f"),
        "currency": e.currency,
    }


async def current(
    session: AsyncSession, tenant_id: str, plugin_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, Entitlement | None]:
    """The entitlement to show for each of the tenant's ``plugin_ids`` (one query)."""
    active = await repo.active_snapshots(session, tenant_id, plugin_ids, now())
    return {plugin_id: pick_current(rows) for plugin_id, rows in active.items()}


def pick_current(rows: Sequence[Entitlement]) -> Entitlement | None:
    """The entitlement to show: a paid one first, else the newest (``rows`` newest first)."""
    paid = [e for e in rows if e.kind not in ("free", "trial")]
    return next(iter(paid or rows), None)
