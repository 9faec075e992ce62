"""What every service process starts from: its settings, its migrated database, a session
factory. Built by the app factory and by the worker; nothing happens at import time."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from shared.config import Settings
from shared.db import make_engine, migrate, session_factory


@dataclass(frozen=True)
class ServiceContext:
    name: str
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]

    @classmethod
    def start(cls, name: str, settings: Settings, migrations_dir: Path) -> ServiceContext:
        url = settings.database_url(name)
        migrate(url, migrations_dir)
        engine = make_engine(url)
        return cls(name, settings, engine, session_factory(engine))
