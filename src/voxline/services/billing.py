"""Credits: each organization's balance in USD and the ledger that explains it.

A call is debited once, when it is finalized, for what it cost; a balance may go negative
(a call that outlasts the remaining credit is not cut off), but never below the configured
credit floor: what a debit cannot take above the floor is left uncollected, and the ledger
entry says so (``note``), as does the call's context (``uncollected_usd``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from voxline.domain.money import from_micros, to_micros, within_floor
from voxline.errors import NotFound, PaymentRequired, ValidationFailed
from voxline.storage.db import Database
from voxline.storage.tables import credit_ledger, organizations
from voxline.storage.types import utcnow


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    kind: str
    amount: Decimal
    balance_after: Decimal
    call_id: str | None
    note: str | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Debit:
    """What a call's debit took and left: ``charged + uncollected`` is the call's cost."""

    charged: Decimal
    uncollected: Decimal
    balance_after: Decimal


async def _locked_balance(conn: AsyncConnection, org_id: str) -> int | None:
    query = sa.select(organizations.c.credit_balance_micros).where(organizations.c.id == org_id)
    if conn.dialect.name != "sqlite":
        query = query.with_for_update()
    current: int | None = (await conn.execute(query)).scalar_one_or_none()
    return current


async def _apply(
    conn: AsyncConnection,
    org_id: str,
    *,
    kind: str,
    delta_micros: int | None = None,
    new_balance_micros: int | None = None,
    call_id: str | None = None,
    note: str | None = None,
) -> Decimal:
    """Change a balance and write the ledger row in the caller's transaction."""
    current = await _locked_balance(conn, org_id)
    if current is None:
        raise NotFound.resource("Organization", org_id)
    if new_balance_micros is None:
        assert delta_micros is not None
        new_balance_micros = current + delta_micros
    amount = new_balance_micros - current
    await conn.execute(
        organizations.update()
        .where(organizations.c.id == org_id)
        .values(credit_balance_micros=new_balance_micros, updated_at=utcnow())
    )
    await conn.execute(
        credit_ledger.insert().values(
            organization_id=org_id,
            kind=kind,
            amount_micros=amount,
            balance_after_micros=new_balance_micros,
            call_id=call_id,
            note=note,
            created_at=utcnow(),
        )
    )
    return from_micros(new_balance_micros)


async def set_balance(db: Database, org_id: str, amount: Decimal) -> Decimal:
    if amount < 0:
        raise ValidationFailed.field("amount", "must not be negative")
    async with db.write() as conn:
        return await _apply(conn, org_id, kind="set", new_balance_micros=to_micros(amount))


async def add_credit(db: Database, org_id: str, amount: Decimal) -> Decimal:
    if amount <= 0:
        raise ValidationFailed.field("amount", "must be positive")
    async with db.write() as conn:
        return await _apply(conn, org_id, kind="grant", delta_micros=to_micros(amount))


async def debit_call(
    conn: AsyncConnection,
    org_id: str,
    call_id: str,
    cost: Decimal,
    floor: Decimal | None = None,
) -> Debit:
    """Charge one call, in the finalizer's transaction; the ledger's unique call_id makes a
    second charge for the same call fail. With a ``floor``, the balance is not taken below
    it: the rest is uncollected and the ledger entry's note records the policy and amount."""
    current = await _locked_balance(conn, org_id)
    if current is None:
        raise NotFound.resource("Organization", org_id)
    cost_micros = to_micros(cost)
    charged, uncollected = cost_micros, 0
    note = None
    if floor is not None:
        charged, uncollected = within_floor(current, cost_micros, to_micros(floor))
        if uncollected:
            note = (
                f"credit floor {from_micros(to_micros(floor))} USD: "
                f"{from_micros(uncollected)} USD of the call's cost uncollected"
            )
    after = await _apply(
        conn, org_id, kind="call", delta_micros=-charged, call_id=call_id, note=note
    )
    return Debit(from_micros(charged), from_micros(uncollected), after)


async def balance(conn: AsyncConnection, org_id: str) -> Decimal:
    micros = (
        await conn.execute(
            sa.select(organizations.c.credit_balance_micros).where(organizations.c.id == org_id)
        )
    ).scalar_one_or_none()
    if micros is None:
        raise NotFound.resource("Organization", org_id)
    return from_micros(micros)


async def require_credit(conn: AsyncConnection, org_id: str, required: Decimal) -> None:
    """Raise 402 ``insufficient_credits`` when the balance is below ``required``."""
    current = await balance(conn, org_id)
    if current < required:
        raise PaymentRequired(
            "Insufficient credits to place a call",
            {
                "reason": "insufficient_credits",
                "balance": float(current),
                "required": float(required),
                "redirect_url": "/settings/billing",
            },
        )


async def ledger(db: Database, org_id: str, limit: int = 100) -> list[LedgerEntry]:
    async with db.read() as conn:
        rows = (
            await conn.execute(
                sa.select(credit_ledger)
                .where(credit_ledger.c.organization_id == org_id)
                .order_by(credit_ledger.c.id.desc())
                .limit(limit)
            )
        ).all()
    return [
        LedgerEntry(
            r.kind,
            from_micros(r.amount_micros),
            from_micros(r.balance_after_micros),
            r.call_id,
            r.note,
            r.created_at,
        )
        for r in rows
    ]
