"""The doorbell: a worker's loops wake the moment any process commits work for them.

Work for a loop is a row in a table (an outbox message, a webhook to send, a receipt to
mail). The web processes write such rows too, and a worker cannot see another process's
commit, so without help its loops must poll, and polling often enough for low latency
costs a commit per loop twenty times a second on an idle system. On PostgreSQL a trigger
on each such table runs `pg_notify('<table>')`, which is delivered only when the inserting
transaction commits (never for one that rolls back); the worker LISTENs and wakes the
loop. Polling remains, rarely, as the safety net for a notification lost while the
listening connection was down. SQLite has no notifications: there a process's own commits
ring its loops (shared/localbell.py), which is all the embedded run, one process, needs.

The same mechanism, with a payload, announces which row was inserted: the order API's web
processes learn which order changed, to answer the frontends waiting on it (order/watch.py).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping

import psycopg
import structlog

from shared.loops import backoff

log = structlog.get_logger(__name__)

FUNCTION = "topup_ring_doorbell"
ANNOUNCE = "topup_announce_row"
#: how long one wait for a notification lasts before the stop flag is looked at again
WAIT_SECONDS = 0.5


def install(*tables: str) -> None:
    """For a migration's upgrade: ring the doorbell named after each table on every insert
    into it. A statement-level trigger rings once per INSERT statement, and PostgreSQL folds
    equal notifications of one transaction into one. Nothing to do on SQLite."""
    from alembic import op

    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(f"""CREATE OR REPLACE FUNCTION {FUNCTION}() RETURNS trigger LANGUAGE plpgsql AS $$
                   BEGIN PERFORM pg_notify(TG_TABLE_NAME, ''); RETURN NULL; END $$""")
    for table in tables:
        op.execute(f"""CREATE TRIGGER {table}_doorbell AFTER INSERT ON {table}
                       FOR EACH STATEMENT EXECUTE FUNCTION {FUNCTION}()""")


def uninstall(*tables: str) -> None:
    """For a migration's downgrade."""
    from alembic import op

    if op.get_bind().dialect.name != "postgresql":
        return
    for table in tables:
        op.execute(f"DROP TRIGGER IF EXISTS {table}_doorbell ON {table}")
    op.execute(f"DROP FUNCTION IF EXISTS {FUNCTION}()")


def install_announcement(table: str, key: str) -> None:
    """For a migration's upgrade: announce every row inserted into `table` on the channel of
    that name, with the row's `key` column as the payload (e.g. which order changed). Equal
    announcements of one transaction are folded into one."""
    from alembic import op

    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(f"""CREATE OR REPLACE FUNCTION {ANNOUNCE}() RETURNS trigger LANGUAGE plpgsql AS $$
                   BEGIN PERFORM pg_notify(TG_TABLE_NAME, to_jsonb(NEW) ->> TG_ARGV[0]); RETURN NULL; END $$""")
    op.execute(f"""CREATE TRIGGER {table}_announce AFTER INSERT ON {table}
                   FOR EACH ROW EXECUTE FUNCTION {ANNOUNCE}('{key}')""")


def uninstall_announcement(table: str) -> None:
    from alembic import op

    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(f"DROP TRIGGER IF EXISTS {table}_announce ON {table}")
    op.execute(f"DROP FUNCTION IF EXISTS {ANNOUNCE}()")


class Doorbell:
    """A loop that LISTENs on one channel per table and calls that table's `ring` with the
    notification's payload; with "" after (re)connecting, when anything may have changed."""

    def __init__(self, url: str, rings: Mapping[str, Callable[[str], None]]) -> None:
        self.url = url.replace("postgresql+psycopg://", "postgresql://", 1)
        self.rings = dict(rings)

    def __call__(self, stop: threading.Event) -> None:
        failures = 0
        while not stop.is_set():
            try:
                with psycopg.connect(self.url, autocommit=True) as conn:
                    for channel in self.rings:
                        conn.execute(f'LISTEN "{channel}"')
                    failures = 0
                    self._ring_all()  # whatever was committed while nobody listened
                    while not stop.is_set():
                        for notice in conn.notifies(timeout=WAIT_SECONDS):
                            self.rings.get(notice.channel, _nothing)(notice.payload)
            except psycopg.Error as exc:
                failures += 1
                delay = backoff(failures)
                log.warning("doorbell_lost", error=repr(exc), retry_in=delay)
                stop.wait(delay)

    def _ring_all(self) -> None:
        for ring in self.rings.values():
            ring("")


def _nothing(_: str) -> None:
    pass
