"""The in-process doorbell on SQLite (shared/localbell.py): a commit that inserts into a
loop's table wakes that loop at once, so the embedded run's loops can sleep a second (here a
minute) between looks; a rolled-back insert, or one into another table, wakes nothing."""

from __future__ import annotations

import threading
from pathlib import Path

from sqlalchemy import text

from shared.db import make_engine, session_factory, unit_of_work
from shared.loops import PollLoop
from shared.messaging.worker import Worker
from tests.helpers import wait_for


def test_a_commit_wakes_the_loop_waiting_for_its_table_and_a_rollback_does_not(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/bell.db"
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE emails (id INTEGER PRIMARY KEY)"))
        conn.execute(text("CREATE TABLE other (id INTEGER PRIMARY KEY)"))
    sessions = session_factory(engine)
    rounds: list[int] = []
    woken = threading.Event()

    def work() -> int:
        rounds.append(1)
        woken.set()
        return 0

    worker = Worker("bell", [PollLoop("bell.loop", work, idle_seconds=60.0, wakes_on="emails")], url)
    worker.start()
    try:
        wait_for(lambda: rounds or None, what="the loop's first look")
        woken.clear()
        looked = len(rounds)
        with unit_of_work(sessions) as session:
            session.execute(text("INSERT INTO other (id) VALUES (1)"))
        try:
            with unit_of_work(sessions) as session:
                session.execute(text("INSERT INTO emails (id) VALUES (1)"))
                raise RuntimeError("rolled back")
        except RuntimeError:
            pass
        assert not woken.wait(0.5) and len(rounds) == looked, "nothing committed for it: it sleeps on"
        with unit_of_work(sessions) as session:
            session.execute(text("INSERT INTO emails (id) VALUES (2)"))
        assert woken.wait(10), "the commit woke it, long before its minute"
    finally:
        worker.stop()
        engine.dispose()
    woken.clear()
    with unit_of_work(sessions) as session:
        session.execute(text("INSERT INTO emails (id) VALUES (3)"))
    assert not woken.is_set(), "a stopped worker is no longer rung"
