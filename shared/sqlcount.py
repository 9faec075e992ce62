"""Counting the SQL statements each process sends, for the bench: measured, not estimated.

With TOPUP_SQL_COUNT_DIR set, the first engine that shared/db.py makes has every engine of the
process count each statement it hands to the driver (SQLAlchemy's `before_cursor_execute`),
by the service whose database it is and by kind, and a daemon thread writes the process's
counts to `<dir>/<pid>.json` about every second (and at exit), atomically, so that the
bench, which runs the services as separate processes, can add them up before and after its
measured window. Unset, nothing is
attached: the services pay nothing.

What is counted and what is not:
- a statement the driver receives is one, whatever it does: an `executemany` (or a batched
  ORM insert) is one round trip and counts as one;
- BEGIN, COMMIT and ROLLBACK are not cursor statements in SQLAlchemy (the driver sends them),
  so they are not here; one that code sends as text (SQLite's BEGIN IMMEDIATE) is left out
  too, under `transaction`. SAVEPOINT, RELEASE and ROLLBACK TO are counted, as `savepoint`;
- the doorbells' LISTEN runs on a raw psycopg connection (shared/doorbell.py), once per
  connection, and is not counted; the triggers' pg_notify runs inside the INSERT it follows.

Commits are counted too (SQLAlchemy's `commit` event), apart from the statements: as the
provider's (`commit_provider`) when every statement of the transaction touched the sandbox
gateways' tables, else as ours (`commit`). Since issue 13 the sandbox has its own processes
and database, counted under its own service name; the tables' prefix still tells the
provider's share on a commit from before, where it shared the payment database (the A/B,
deploy/ab.sh, measures such a commit with this file). The bench prints PostgreSQL's own
count (`xact_commit`) beside them as a cross-check.
"""

from __future__ import annotations

import atexit
import json
import os
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, event

ENV = "TOPUP_SQL_COUNT_DIR"
#: the kinds a statement is counted as; TRANSACTION is kept apart and never in a total
KINDS = ("select", "select_for_update", "insert", "update", "delete", "savepoint", "other")
TRANSACTION = "transaction"
#: commits, counted apart from the statements: ours, and the provider's (PROVIDER_TABLES only)
COMMIT, PROVIDER_COMMIT = "commit", "commit_provider"
#: the sandbox gateways' tables: the provider's side of the wire (in the payment database
#: before issue 13; in its own since)
PROVIDER_TABLES = "sandbox_"
WRITE_EVERY_SECONDS = 1.0


def count_if_asked() -> None:
    """Count every engine's statements if TOPUP_SQL_COUNT_DIR is set (make_engine's hook):
    once per process, on the Engine class, so that an engine made any other way counts too."""
    directory = os.environ.get(ENV)
    if directory:
        _process_counter(directory)


@lru_cache(maxsize=1)
def _process_counter(directory: str) -> _Counter:
    """One counter per process: the file it writes is the process's."""
    return _Counter(Path(directory))


@lru_cache(maxsize=4096)
def kind_of(statement: str) -> str:
    """SELECT, SELECT ... FOR UPDATE, INSERT, UPDATE, DELETE, a savepoint, or other (WITH...)."""
    words = statement.lstrip(" \n\t(").split(None, 1)
    verb = words[0].upper() if words else ""
    if verb == "SELECT":
        tail = statement.upper()
        return "select_for_update" if " FOR UPDATE" in tail or " FOR NO KEY UPDATE" in tail else "select"
    if verb in ("INSERT", "UPDATE", "DELETE"):
        return verb.lower()
    if verb in ("SAVEPOINT", "RELEASE") or statement.upper().startswith("ROLLBACK TO"):
        return "savepoint"
    if verb in ("BEGIN", "COMMIT", "ROLLBACK", "START", "END"):
        return TRANSACTION
    return "other"


@lru_cache(maxsize=64)
def service_of(database: str | None) -> str:
    """Which service a database belongs to, from the *_DATABASE_URL variables (else its name)."""
    for name, value in os.environ.items():
        if name.endswith("_DATABASE_URL") and database and value.rstrip("/").endswith("/" + database):
            return name.removesuffix("_DATABASE_URL").lower()
    return database or "?"


def process_role() -> str:
    """`web` under gunicorn, `worker` for a service's worker, else the program's name."""
    program = sys.argv[0] if sys.argv else ""
    if "gunicorn" in program:
        return "web"
    if program.endswith("worker.py"):
        return "worker"
    return Path(program).stem if program not in ("", "-c") else "python"


class _Counter:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.lock = threading.Lock()
        self.kinds: Counter[tuple[str, str]] = Counter()  # (service, kind)
        self.statements: Counter[tuple[str, str]] = Counter()  # (service, statement)
        self.changed = False
        self._started_in: int | None = None
        self._start()
        os.register_at_fork(after_in_child=self._after_fork)
        event.listen(Engine, "before_cursor_execute", self._count)
        event.listen(Engine, "commit", self._commit)
        event.listen(Engine, "rollback", self._forget)

    def _count(self, conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        service, kind = service_of(conn.engine.url.database), kind_of(statement)
        if kind != TRANSACTION:
            conn.info["sqlcount_ours"] = conn.info.get("sqlcount_ours", False) or PROVIDER_TABLES not in statement
        with self.lock:
            self.kinds[service, kind] += 1
            self.statements[service, statement] += 1
            self.changed = True

    def _commit(self, conn: Any) -> None:
        ours = conn.info.pop("sqlcount_ours", True)  # a transaction with no statement: ours
        with self.lock:
            self.kinds[service_of(conn.engine.url.database), COMMIT if ours else PROVIDER_COMMIT] += 1
            self.changed = True

    def _forget(self, conn: Any) -> None:
        conn.info.pop("sqlcount_ours", None)

    def _start(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        self._started_in = os.getpid()
        threading.Thread(target=self._write_forever, name="sql-count", daemon=True).start()
        atexit.register(self.write)

    def _after_fork(self) -> None:
        """A forked child counts for itself, from zero, into its own file."""
        self.lock = threading.Lock()
        self.kinds.clear()
        self.statements.clear()
        self._start()

    def _write_forever(self) -> None:
        while True:
            time.sleep(WRITE_EVERY_SECONDS)
            self.write()

    def write(self) -> None:
        if os.getpid() != self._started_in:
            return
        path = self.directory / f"{os.getpid()}.json"
        with self.lock:
            changed, self.changed = self.changed, False
            if not changed and path.exists():
                kinds = statements = None
            else:
                kinds, statements = list(self.kinds.items()), list(self.statements.items())
        if kinds is None or statements is None:
            os.utime(path)  # unchanged: only say that it is current
            return
        body = {"pid": os.getpid(), "role": process_role(), "written_at": time.time(),
                "kinds": [[service, kind, n] for (service, kind), n in kinds],
                "statements": [[service, text, n] for (service, text), n in statements]}
        partial = path.with_suffix(".partial")
        partial.write_text(json.dumps(body))
        os.replace(partial, path)


@dataclass
class StatementCounts:
    """Statements summed over processes: by (service, role, kind), and by ('service-role',
    statement text)."""

    kinds: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    statements: Counter[tuple[str, str]] = field(default_factory=Counter)

    def __sub__(self, other: StatementCounts) -> StatementCounts:
        return StatementCounts(self.kinds - other.kinds, self.statements - other.statements)

    def total(self) -> int:
        return sum(n for (_, _, kind), n in self.kinds.items() if kind in KINDS)

    def every_commit(self) -> int:
        """Ours and the provider's."""
        return self.commits() + self.commits(PROVIDER_COMMIT)

    def commits(self, kind: str = COMMIT) -> int:
        """Commits SQLAlchemy saw (COMMIT: ours, PROVIDER_COMMIT: the sandbox gateways')."""
        return sum(n for (_, _, k), n in self.kinds.items() if k == kind)

    def by_kind(self) -> Counter[str]:
        return Counter({kind: sum(n for (_, _, k), n in self.kinds.items() if k == kind) for kind in KINDS})

    def by_process(self) -> Counter[str]:
        """'order-web', 'wallet-worker', ...: who sent them."""
        totals: Counter[str] = Counter()
        for (service, role, kind), n in self.kinds.items():
            if kind in KINDS:
                totals[f"{service}-{role}"] += n
        return totals

    def commits_by_process(self, kind: str = COMMIT) -> Counter[str]:
        return Counter({f"{service}-{role}": n for (service, role, k), n in self.kinds.items() if k == kind and n})

    def by_service(self) -> Counter[str]:
        totals: Counter[str] = Counter()
        for (service, _, kind), n in self.kinds.items():
            if kind in KINDS:
                totals[service] += n
        return totals


def read_counts(directory: Path, current_at: float | None = None, timeout: float = 5.0) -> StatementCounts:
    """The sum of every process's counts. With `current_at` (a time.time()), first wait until
    every live process has written its file since then, so the sum is at least that recent."""
    deadline = time.monotonic() + timeout
    while current_at is not None and time.monotonic() < deadline and _stale(directory, current_at):
        time.sleep(0.1)
    counts = StatementCounts()
    for path in directory.glob("*.json"):
        body = json.loads(path.read_text())
        for service, kind, n in body["kinds"]:
            counts.kinds[service, body["role"], kind] += n
        for service, statement, n in body["statements"]:
            counts.statements[f"{service}-{body['role']}", statement] += n
    return counts


def _stale(directory: Path, since: float) -> bool:
    for path in directory.glob("*.json"):
        if path.stat().st_mtime < since and _alive(int(path.stem)):
            return True
    return False


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
