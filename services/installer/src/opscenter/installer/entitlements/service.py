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


async def charge_for(
    session: AsyncSession, tenant_id: str, plugin_id: uuid.UUID, pricing: dict[str, Any]
) -> Charge:
    at = now()
    if pricing.get("free"):
        return Charge("free", "free plugin")
    current = [e for e in await repo.active(session, tenant_id, plugin_id, at) if e.kind != "free"]
    if current:
        e = current[0]
        until = f" until {e.period_end.isoformat()}" if e.period_end else ""
        return Charge("entitled", f"{e.kind} entitlement{until}", entitlement=e.kind)
    days = pricing.get("trial_days") or 0
    used = await repo.trial(session, tenant_id, plugin_id)
    if used is None and days > 0:
        return Charge("trial", f"starts a {days}-day trial", trial_days=days)
    prices = ", ".join(
        f"{k} {pricing[k]} {pricing.get('currency', 'USD')}"
        for k in ("monthly", "yearly", "lifetime")
        if pricing.get(k)
    )
    why = "the trial was already used" if used is not None else "no trial is offered"
    return Charge("payment_required", f"needs a paid entitlement ({prices}); {why}")


async def apply_charge(
    session: AsyncSession,
    emit: Emit,
    tenant_id: str,
    plugin_id: uuid.UUID,
    slug: str,
    charge: Charge,
    currency: str = "USD",
) -> None:
    """Records what ``charge_for`` decided: a free row once, or the start of a trial."""
    at = now()
    if charge.kind == "free":
        if await repo.active(session, tenant_id, plugin_id, at):
            return
        await _record(
            session,
            emit,
            tenant_id,
            plugin_id,
            slug,
            "free",
            None,
            Decimal("0"),
            currency,
            "install",
        )
    elif charge.kind == "trial" and charge.trial_days:
        ends = at + timedelta(days=charge.trial_days)
        session.add(Trial(tenant_id=tenant_id, plugin_id=plugin_id, started_at=at, ends_at=ends))
        await _record(
            session,
            emit,
            tenant_id,
            plugin_id,
            slug,
            "trial",
            ends,
            Decimal("0"),
            currency,
            "install",
        )


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
    return await _record(
        session, emit, tenant_id, plugin_id, slug, kind, period_end, gross, currency, source
    )


async def _record(
    session: AsyncSession,
    emit: Emit,
    tenant_id: str,
    plugin_id: uuid.UUID,
    slug: str,
    kind: str,
    period_end: datetime | None,
    gross: Decimal,
    currency: str,
    source: str,
) -> Entitlement:
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
    )
    session.add(row)
    await session.flush()
    await emit(
        EntitlementChangedV1(
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
        ),
        tenant_id,
    )
    return row


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
    session: AsyncSession, tenant_id: str, plugin_id: uuid.UUID
) -> Entitlement | None:
    rows = await repo.active(session, tenant_id, plugin_id, now())
    paid = [e for e in rows if e.kind not in ("free", "trial")]
    return (paid or list(rows) or [None])[0]
