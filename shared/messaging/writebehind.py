"""Rows that nobody reads back in the same transaction, written once, at its end.

A consumer's batch (consumer.py) handles many messages in one transaction, and each
message appends rows that only later readers see: an outbox row, a timeline entry. Written
as they come, they cost a statement each; kept here and written just before the commit,
they cost one statement per table for the whole batch (an `executemany`, one round trip).
Under load, when messages arrive together, that is most of a saga step's statements.

Only a transaction that asked for it defers (`begin`), and only writers that never read
their rows back in the same transaction use it (`insert`): elsewhere `insert` writes at
once, so a web request still reads what it wrote. The consumer writes the rows (`flush`)
before it commits; a transaction that rolls back drops them with everything else.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Table
from sqlalchemy.orm import Session

from shared.db import insert_into

ROWS = "topup.write_behind"  # session.info: table -> rows waiting for the commit


def begin(session: Session) -> None:
    """From now until `flush`, `insert` keeps rows instead of writing them."""
    session.info[ROWS] = {}


def insert(session: Session, table: Table, rows: list[Mapping[str, Any]]) -> None:
    """Insert `rows` into `table` in this transaction: at once, or at `flush` if deferring.
    Every row of a table must carry the same columns (they go out as one executemany)."""
    if not rows:
        return
    waiting: dict[Table, list[Mapping[str, Any]]] | None = session.info.get(ROWS)
    if waiting is None:
        session.execute(insert_into(table), rows)
        return
    waiting.setdefault(table, []).extend(rows)


def flush(session: Session) -> None:
    """Write what was kept, one statement per table, in the order the tables were first
    written to; and stop deferring."""
    waiting: dict[Table, list[Mapping[str, Any]]] = session.info.pop(ROWS, None) or {}
    for table, rows in waiting.items():
        session.execute(insert_into(table), rows)


def discard(session: Session) -> None:
    """Forget what was kept (the transaction rolled back)."""
    session.info.pop(ROWS, None)
