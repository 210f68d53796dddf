"""Idempotency-Key support for writes: a retried request returns the first answer.

The key's row is inserted at the start of the write's transaction and its answer stored before
the commit, so the key and the effect commit together. A concurrent retry blocks on the key's
unique index until the first transaction ends, then reads the stored answer; if the first rolled
back, the retry runs the write itself. Reusing a key for a different request answers 422.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Header
from fastapi.responses import JSONResponse, Response
from sqlalchemy import Column, DateTime, Integer, MetaData, String, Table, func, select, update
from sqlalchemy.dialects.postgresql import JSONB, insert
from sqlalchemy.ext.asyncio import AsyncSession

from opscenter.servicekit.errors import Problem

IDEMPOTENCY_TABLE = "idempotency_keys"

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=255,
        description="Send the same key when retrying; the first answer is returned again.",
    ),
]


def idempotency_table(metadata: MetaData, name: str = IDEMPOTENCY_TABLE) -> Table:
    return Table(
        name,
        metadata,
        Column("scope", String(300), primary_key=True),
        Column("key", String(255), primary_key=True),
        Column("request_hash", String(64), nullable=False),
        Column("status_code", Integer, nullable=True),
        Column("response", JSONB, nullable=True),
        Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    )


def fingerprint(*parts: Any) -> str:
    """A stable hash of what makes two requests the same request."""
    raw = json.dumps(parts, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(raw.encode()).hexdigest()


@dataclass
class Replay:
    status_code: int
    body: Any

    def response(self) -> Response:
        headers = {"Idempotent-Replay": "true"}
        if self.body is None:
            return Response(status_code=self.status_code, headers=headers)
        return JSONResponse(self.body, status_code=self.status_code, headers=headers)


class IdempotencyStore:
    def __init__(self, table: Table) -> None:
        self.table = table

    async def begin(
        self, session: AsyncSession, scope: str, key: str | None, request_hash: str
    ) -> Replay | None:
        """Claims `key` in the caller's transaction; returns the first answer when it exists."""
        if key is None:
            return None
        claimed = await session.execute(
            insert(self.table)
            .values(scope=scope, key=key, request_hash=request_hash)
            .on_conflict_do_nothing()
            .returning(self.table.c.key)
        )
        if claimed.first() is not None:
            return None
        row = (
            await session.execute(
                select(
                    self.table.c.request_hash, self.table.c.status_code, self.table.c.response
                ).where(self.table.c.scope == scope, self.table.c.key == key)
            )
        ).one()
        if row.request_hash != request_hash:
            raise Problem(
                422,
                "idempotency-key-reused",
                "This Idempotency-Key was already used for a different request",
                errors=[{"field": "header.Idempotency-Key", "message": "reused with another body"}],
            )
        return Replay(status_code=row.status_code, body=row.response)

    async def finish(
        self, session: AsyncSession, scope: str, key: str | None, status_code: int, body: Any
    ) -> None:
        if key is None:
            return
        await session.execute(
            update(self.table)
            .where(self.table.c.scope == scope, self.table.c.key == key)
            .values(status_code=status_code, response=body)
        )
