"""The bench's statement counter (shared/sqlcount.py): what counts as a statement, and that a
process's counts reach its file. The counting runs in a child process: once asked, a process
counts every engine for the rest of its life."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from deploy.processes import ROOT
from shared.sqlcount import PROVIDER_COMMIT, TRANSACTION, kind_of, read_counts

CHILD = textwrap.dedent("""
    from sqlalchemy import text
    from shared.db import make_engine
    engine = make_engine("sqlite:///{db}")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)"))
        conn.execute(text("INSERT INTO t (v) VALUES (:v)"), [{{"v": "a"}}, {{"v": "b"}}, {{"v": "c"}}])
        conn.execute(text("UPDATE t SET v = 'x' WHERE id = 1"))
        conn.execute(text("SELECT v FROM t")).all()
        conn.execute(text("SELECT v FROM t")).all()
        conn.execute(text("DELETE FROM t WHERE id = 2"))
    with engine.begin() as conn:  # the provider's alone
        conn.execute(text("CREATE TABLE sandbox_sessions (id INTEGER PRIMARY KEY)"))
        conn.execute(text("INSERT INTO sandbox_sessions (id) VALUES (1)"))
    with engine.begin() as conn:  # ours, touching the provider's too
        conn.execute(text("SELECT id FROM sandbox_sessions")).all()
        conn.execute(text("UPDATE t SET v = 'y' WHERE id = 3"))
    with engine.connect() as conn:  # rolled back: no commit
        conn.execute(text("UPDATE t SET v = 'z' WHERE id = 3"))
        conn.rollback()
""")


def test_statements_are_told_apart_by_kind() -> None:
    assert kind_of("SELECT orders.id FROM orders WHERE orders.id = %(id)s") == "select"
    assert kind_of("SELECT o.id FROM orders AS o WHERE o.id = %(id)s FOR UPDATE") == "select_for_update"
    assert kind_of("SELECT id FROM outbox ORDER BY id LIMIT 200 FOR UPDATE SKIP LOCKED") == "select_for_update"
    assert kind_of("\n  INSERT INTO inbox (message_id) VALUES (%s) ON CONFLICT DO NOTHING") == "insert"
    assert kind_of("UPDATE orders SET status=%(status)s") == "update"
    assert kind_of("DELETE FROM auth_throttles") == "delete"
    assert kind_of("SAVEPOINT sa_savepoint_1") == kind_of("ROLLBACK TO SAVEPOINT sa_savepoint_1") == "savepoint"
    assert kind_of("BEGIN IMMEDIATE") == kind_of("COMMIT") == TRANSACTION
    assert kind_of("WITH x AS (SELECT 1) SELECT * FROM x") == "other"


def test_a_process_asked_to_count_writes_its_counts_by_service_and_kind(tmp_path: Path) -> None:
    counts_dir, db = tmp_path / "counts", tmp_path / "order.db"
    env = {"TOPUP_SQL_COUNT_DIR": str(counts_dir), "ORDER_DATABASE_URL": f"sqlite:///{db}", "PATH": "/usr/bin"}
    subprocess.run([sys.executable, "-c", CHILD.format(db=db)], cwd=ROOT, env=env, check=True, timeout=60)
    counts = read_counts(counts_dir)
    kinds = counts.by_kind()
    # BEGIN IMMEDIATE (SQLite's writer lock, sent as text) is kept apart and never in a total;
    # the executemany of three rows is one statement, as it is one round trip
    assert (kinds["insert"], kinds["update"], kinds["select"], kinds["delete"]) == (2, 3, 3, 1)
    assert counts.by_service()["order"] == counts.total() == sum(kinds.values())
    assert counts.kinds["order", "python", TRANSACTION] >= 1
    assert counts.statements["order-python", "SELECT v FROM t"] == 2  # the repeated SELECT, by its text
    # commits apart from statements: a transaction on the sandbox gateways' tables alone is
    # the provider's; a rollback is no commit
    assert (counts.commits(), counts.commits(PROVIDER_COMMIT)) == (2, 1)
    assert counts.commits_by_process() == {"order-python": 2}


def test_nothing_is_counted_unless_asked(tmp_path: Path) -> None:
    db = tmp_path / "order.db"
    probe = CHILD.format(db=db) + "\nimport shared.sqlcount as c\n" \
        "assert c._process_counter.cache_info().currsize == 0\n"
    subprocess.run([sys.executable, "-c", probe], cwd=ROOT, env={"PATH": "/usr/bin"}, check=True, timeout=60)
