"""The body of every service's Alembic env.py: online migrations, serialized by a lock.

Several processes of one service (gunicorn workers, the worker) start at once and each
applies migrations; on PostgreSQL an advisory lock makes them take turns.
"""

from __future__ import annotations

import zlib

from alembic import context
from sqlalchemy import Connection, MetaData, pool, text

from shared.db import is_sqlite, make_engine


def run_migrations(target_metadata: MetaData, service: str) -> None:
    url = context.config.get_main_option("sqlalchemy.url")
    assert url, "sqlalchemy.url is set by shared.db.migrate"
    if context.is_offline_mode():
        context.configure(url=url, target_metadata=target_metadata, literal_binds=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = make_engine(url, poolclass=pool.NullPool)
    with engine.connect() as connection:
        if is_sqlite(url):
            _foreign_keys(connection, on=False)
        else:
            connection.execute(text("SELECT pg_advisory_lock(:k)"), {"k": zlib.crc32(service.encode())})
            connection.commit()
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=is_sqlite(url),
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()
        if is_sqlite(url):
            _foreign_keys(connection, on=True)
        else:
            connection.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": zlib.crc32(service.encode())})
            connection.commit()
    engine.dispose()


def _foreign_keys(connection: Connection, on: bool) -> None:
    """SQLite can only alter a table by copying it into a new one and dropping the old one,
    which a foreign key pointing at it forbids (db.py turns the keys on for every
    connection). So they are off while migrations run, outside any transaction (SQLite
    ignores the pragma inside one), and checked, then on again, afterwards."""
    raw = connection.connection.driver_connection
    assert raw is not None
    if on:
        broken = raw.execute("PRAGMA foreign_key_check").fetchall()
        if broken:
            raise RuntimeError(f"a migration left rows whose foreign keys point nowhere: {broken[:5]}")
    raw.execute(f"PRAGMA foreign_keys={'ON' if on else 'OFF'}")
