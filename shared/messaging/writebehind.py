"""Rows that nobody reads back in the same transaction, written once, at its end.

A consumer's batch (consumer.py) handles many messages in one transaction, and each
message appends rows that only later readers see: an outbox row, a timeline entry. Written
as they come, they cost a statement each; kept here and written just before the commit,
they cost one statement per table for the whole batch (an `executemany`, one round trip).
Under load, when messages arrive together, that is most of a saga step's statements.

Only code inside a `deferred` block defers, and only writers that never read their rows
back in the same transaction use it (`insert`): elsewhere `insert` writes at once, so a web
request still reads what it wrote. The consumer's batch runs its handlers in such a block,
which writes the rows before the batch commits; a block that raises writes none.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Table
from sqlalchemy.orm import Session

from shared.db import insert_into

ROWS = "topup.write_behind"  # session.info: table -> rows waiting for the commit


@contextmanager
def deferred(session: Session) -> Iterator[None]:
    """Within the block, `insert` keeps rows; at its end they are written, one statement per
    table, in the order the tables were first written to. A block that raises writes none."""
    session.info[ROWS] = {}
    try:
        yield
        waiting: dict[Table, list[Mapping[str, Any]]] = session.info.pop(ROWS)
        for table, rows in waiting.items():
            session.execute(insert_into(table), rows)
    finally:
        session.info.pop(ROWS, None)


def insert(session: Session, table: Table, rows: list[Mapping[str, Any]]) -> None:
    """Insert `rows` into `table` in this transaction: at once, or at the end of a
    `deferred` block. Every row of a table must carry the same columns (they go out as one
    executemany)."""
    if not rows:
        return
    waiting: dict[Table, list[Mapping[str, Any]]] | None = session.info.get(ROWS)
    if waiting is None:
        session.execute(insert_into(table), rows[0] if len(rows) == 1 else rows)
        return
    waiting.setdefault(table, []).extend(rows)
