"""Database plumbing shared by the services: engines, units of work and migrations.

Each service owns its database; this module only knows how to open one. Users write plain
`postgresql://user@host/db` URLs, so the driver (psycopg 3) is filled in here.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import (
    DateTime,
    Dialect,
    Engine,
    Insert,
    MetaData,
    Table,
    TypeDecorator,
    Update,
    bindparam,
    create_engine,
    event,
    insert,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm import Session, sessionmaker

from shared import localbell, sqlcount

# Stable constraint names, so that Alembic migrations name things the same on every backend.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def new_metadata() -> MetaData:
    return MetaData(naming_convention=NAMING_CONVENTION)


def normalize_url(url: str) -> str:
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def make_engine(url: str, **kwargs: Any) -> Engine:
    sqlcount.count_if_asked()  # the bench's statement counts (TOPUP_SQL_COUNT_DIR); else nothing
    url = normalize_url(url)
    if not is_sqlite(url):
        # No pre-ping: it costs a round trip on every checkout (a fifth of a read's time
        # under load). A connection the server dropped fails one statement; SQLAlchemy then
        # discards the whole pool, and every write path here is safe to retry.
        if "poolclass" not in kwargs:
            kwargs.update(pool_size=10, max_overflow=20, pool_recycle=1800)
        return create_engine(url, **kwargs)
    path = url.split("///", 1)[-1]
    if path and path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, **kwargs)
    _serialize_sqlite_writers(engine)
    localbell.watch(engine, url)
    return engine


def _serialize_sqlite_writers(engine: Engine) -> None:
    """Begin every SQLite transaction IMMEDIATE.

    pysqlite starts transactions lazily and upgrades read locks to write locks, which under
    concurrent threads fails with 'database is locked' instead of waiting. Taking the write
    lock up front makes SQLite behave like the row locks we take on PostgreSQL: one writer
    at a time, the others wait.
    """

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def upsert(session: Session) -> Any:
    """The dialect's `insert` (PostgreSQL's or SQLite's), the ones that know ON CONFLICT:
    idempotent writes are single statements on both backends."""
    return pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert


# -- statements built once -------------------------------------------------------------------
# Building a statement costs about as much Python as running it (a select by primary key on
# PostgreSQL here: 95 us to build, 125 us to run), and SQLAlchemy caches only the compiling.
# So the statements every top-up runs are built once, their values passed as parameters.

def insert_new(session: Session, table: Table, conflict: tuple[str, ...]) -> Any:
    """`INSERT ... ON CONFLICT (conflict) DO NOTHING RETURNING (conflict)`, built once per
    table and backend; execute it with the row as its parameters (a row back: it was new),
    or with a list of rows (one statement; the new ones come back)."""
    return _insert_new(session.get_bind().dialect.name, table, conflict)


@functools.cache
def _insert_new(dialect: str, table: Table, conflict: tuple[str, ...]) -> Any:
    dialect_insert = pg_insert if dialect == "postgresql" else sqlite_insert
    return (dialect_insert(table).on_conflict_do_nothing(index_elements=list(conflict))
            .returning(*(table.c[name] for name in conflict)))


@functools.cache
def insert_into(table: Table) -> Insert:
    """`INSERT INTO table`, built once: the rows (one dict, or a list for an executemany)
    come as its parameters."""
    return insert(table)


@functools.cache
def update_where(table: Table, key: str) -> Update:
    """`UPDATE table SET <the parameters' other columns> WHERE <key> = :where_<key>`, built
    once: execute it with `{f"where_{key}": ..., **changes}`."""
    return update(table).where(table.c[key] == bindparam(f"where_{key}"))


#: PostgreSQL's SQLSTATEs of a database that is away rather than of a wrong statement:
#: class 08 (connection exceptions), an administrator's or a crash's shutdown (57P01-57P03),
#: too many connections (53300)
_AWAY_SQLSTATES = ("08", "57P01", "57P02", "57P03", "53300")
#: SQLite's: another writer holds the file past the busy timeout, or the file is out of reach
_AWAY_SQLITE = ("database is locked", "database is busy", "unable to open database")


def database_unavailable(exc: BaseException) -> bool:
    """Is this the database being away (a dropped or refused connection, a full pool, a
    locked SQLite file), rather than a mistake in a statement (no such table, a bad value)?
    Such an error is worth a retry and a 503; the other kind is a bug, and a 500."""
    if isinstance(exc, PoolTimeout):
        return True
    if not isinstance(exc, DBAPIError):
        return False
    if exc.connection_invalidated or isinstance(exc, InterfaceError):
        return True
    if not isinstance(exc, OperationalError):
        return False
    sqlstate = getattr(exc.orig, "sqlstate", None)
    if sqlstate:
        return sqlstate.startswith(_AWAY_SQLSTATES)
    message = str(exc.orig).lower()
    if type(exc.orig).__module__.startswith("sqlite3"):
        return message.startswith(_AWAY_SQLITE)
    return True  # psycopg: an error without a SQLSTATE comes from the connection, not the server


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def unit_of_work(sessions: sessionmaker[Session]) -> Iterator[Session]:
    """One database transaction: commit on success, roll back on any error."""
    with sessions() as session, session.begin():
        yield session


def migrate(url: str, migrations_dir: str | os.PathLike[str]) -> None:
    """Bring a service's database to the newest migration (run at every start)."""
    config = Config()
    config.set_main_option("script_location", str(migrations_dir))
    config.set_main_option("sqlalchemy.url", normalize_url(url).replace("%", "%%"))
    if is_sqlite(url):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
    command.upgrade(config, "head")


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp that is always timezone-aware UTC in Python, on every backend.

    PostgreSQL keeps the zone (timestamptz); SQLite drops it, and a naive datetime read back
    would fail to compare with an aware one. Stored values are normalized to UTC first.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: every stored time is UTC-aware")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
