"""The doorbell within one process, for SQLite (which has no LISTEN/NOTIFY): a commit that
inserted into a table wakes the loops of this process that wait for that table's rows, as
PostgreSQL's notifications do for every process (shared/doorbell.py).

The embedded run (`make run`) is one process, so every commit that owes a loop work (an email
to send, a webhook to deliver, a refund to try) is seen here, and the loops can sleep a
second between looks instead of looking twenty times a second. A commit in another process
(not a shape the embedded default runs) is found by the loops' own looking.

How: every SQLite engine notes, on its connection, the watched tables a statement inserted
into (`INSERT INTO <table>`); when that connection commits, the tables are handed to the
committing thread, and rung once the session's commit is done (ringing earlier could wake a
loop before the rows are there). A rollback forgets them.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy.orm import Session

_lock = threading.Lock()
#: (database url, table) -> the rings of the loops waiting for its rows
_rings: dict[tuple[str, str], list[Callable[[], None]]] = defaultdict(list)
_committed = threading.local()
NOTED = "topup.localbell.tables"


def subscribe(url: str, table: str, ring: Callable[[], None]) -> Callable[[], None]:
    """Ring `ring` after each commit that inserted into `table` of the database at `url`;
    returns how to stop."""
    with _lock:
        _rings[(url, table)].append(ring)

    def unsubscribe() -> None:
        with _lock:
            if ring in _rings.get((url, table), []):
                _rings[(url, table)].remove(ring)

    return unsubscribe


def watch(engine: Engine, url: str) -> None:
    """Note the inserts of `engine` (an SQLite one) for the loops subscribed to its tables."""

    @event.listens_for(engine, "after_cursor_execute")
    def _inserted(conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if not statement.startswith("INSERT INTO "):
            return
        table = statement[12:].split(None, 1)[0].strip('"')
        if (url, table) in _rings:
            conn.info.setdefault(NOTED, set()).add((url, table))

    @event.listens_for(engine, "commit")
    def _committing(conn: Any) -> None:
        tables = conn.info.pop(NOTED, None)
        if tables:
            pending = getattr(_committed, "tables", None)
            _committed.tables = tables if pending is None else pending | tables

    @event.listens_for(engine, "rollback")
    def _rolled_back(conn: Any) -> None:
        conn.info.pop(NOTED, None)


@event.listens_for(Session, "after_commit")
def _ring(_session: Session) -> None:
    tables = getattr(_committed, "tables", None)
    if not tables:
        return
    _committed.tables = None
    with _lock:
        rings = [ring for key in tables for ring in _rings.get(key, ())]
    for ring in rings:
        ring()
