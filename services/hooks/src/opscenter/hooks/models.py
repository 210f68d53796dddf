"""The hooks service's tables, and only the hooks service's."""

from __future__ import annotations

from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase

from opscenter.servicekit.db import NAMING_CONVENTION
from opscenter.servicekit.idempotency import idempotency_table
from opscenter.servicekit.inbox import inbox_table
from opscenter.servicekit.outbox import outbox_table

metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Base(DeclarativeBase):
    metadata = metadata


outbox = outbox_table(metadata)
inbox = inbox_table(metadata)
idempotency_keys = idempotency_table(metadata)
