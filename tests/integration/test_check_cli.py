"""`python -m deploy.check`, end to end, on the embedded default: the system writes SQLite
files, the command reads them through the *_DATABASE_URL variables and answers with its
report and its exit status."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from deploy.checks.snapshot import reading
from shared.config import SERVICES, Settings
from tests.integration.test_check import History, live_history, sql, with_ports

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> Iterator[History]:
    """The SQLite files after a real run: a completed top-up, a declined one, an expired one."""
    var = tmp_path_factory.mktemp("embedded")
    settings = with_ports(Settings(database_urls={n: f"sqlite:///{var}/{n}.db" for n in SERVICES},
                                   amqp_url="memory://", var_dir=str(var)))
    yield live_history(settings)


@pytest.fixture
def files(written: History, tmp_path: Path) -> Settings:
    """This test's own copy of the four files."""
    for service in SERVICES:
        source = Path(written.settings.database_url(service).split("///", 1)[1])
        for suffix in ("", "-wal", "-shm"):
            if source.with_name(source.name + suffix).exists():
                shutil.copy(source.with_name(source.name + suffix), tmp_path / f"{service}.db{suffix}")
    return Settings(database_urls={n: f"sqlite:///{tmp_path}/{n}.db" for n in SERVICES})


def check(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **{f"{n.upper()}_DATABASE_URL": settings.database_url(n) for n in SERVICES}}
    return subprocess.run([sys.executable, "-m", "deploy.check", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=60)


def test_the_command_says_ok_and_exits_0_on_a_clean_history(files: Settings) -> None:
    done = check(files)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.splitlines()[-1] == "OK: 3 orders, 3 payments, 1 journal entry checked; money is conserved."
    assert done.stdout.splitlines()[-2].startswith("parked messages: not looked at (AMQP_URL is not set")
    assert done.stdout.startswith("topup money check at ") and "(grace 15 min)" in done.stdout.splitlines()[0]


def test_the_command_lists_each_problem_and_exits_1(files: Settings, written: History) -> None:
    sql(files, "wallet", "UPDATE accounts SET balance_minor = 0")
    sql(files, "payment", "UPDATE payments SET status = 'refunded' WHERE order_id = :id", id=written.completed)
    sql(files, "payment", "UPDATE payments SET status = 'captured' WHERE order_id = :id", id=written.expired)
    done = check(files, "--grace-seconds", "60")
    assert done.returncode == 1, done.stdout + done.stderr
    out = done.stdout
    assert (f"  - Order {written.completed} (customer {written.email}): the payment of 90.00 EUR was refunded, "
            "but the wallet still records 90.00 EUR received from the gateway for it") in out
    assert (f"  - Order {written.expired} (customer {written.email}) expired, but 30.00 EUR was captured and "
            "never refunded.") in out
    assert (f"  - Account of customer {written.email}: the cached balance is 0.00 EUR, but its postings add up "
            "to 100.00 EUR.") in out
    assert (f"  - Account of customer {written.email}: its credits hold 100.00 EUR, but its balance is "
            "0.00 EUR.") in out
    assert "(grace 1 min)" in out.splitlines()[0]
    assert out.splitlines()[-1] == "PROBLEMS: 4 found in 3 orders."


def test_a_missing_database_is_an_error_not_an_empty_one(files: Settings, tmp_path: Path) -> None:
    missing = tmp_path / "elsewhere" / "wallet.db"
    done = check(files.with_changes(database_urls={**files.database_urls, "wallet": f"sqlite:///{missing}"}))
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.strip() == (f"check failed: the wallet database {missing} does not exist (set "
                                   "WALLET_DATABASE_URL to the database the service uses)")
    assert not missing.exists() and not missing.parent.exists()


def test_the_check_only_reads_sqlite_too(files: Settings) -> None:
    with reading(files, "notify") as conn, pytest.raises(DBAPIError, match="readonly"):
        conn.execute(text("DELETE FROM receipts"))
    assert sql(files, "notify", "SELECT count(*) FROM receipts") == [(1,)]
