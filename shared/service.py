"""What every service process starts from: its settings, its migrated database, a session
factory that publishes each commit's outbox rows once it commits (shared/messaging/direct.py).
Built by the app factory and by the worker; nothing happens at import time."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from shared import metrics, tracing
from shared.config import Settings
from shared.db import make_engine, migrate, session_factory
from shared.messaging.direct import DirectPublisher

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class ServiceContext:
    name: str
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    publisher: DirectPublisher | None = field(default=None, compare=False)
    #: set by `stop`: the threads started by `spawn` (the order watch's listener) end with it
    stopping: threading.Event = field(default_factory=threading.Event, compare=False)
    threads: list[threading.Thread] = field(default_factory=list, compare=False)
    #: the service's migrations, which /readyz compares the database with (shared/readiness.py)
    migrations: Path | None = field(default=None, compare=False)
    #: what `stop` undoes besides (the state gauges' reader)
    undo: list[Callable[[], None]] = field(default_factory=list, compare=False)
    #: whether it talks to the broker (the sandbox gateways do not: /readyz leaves it out)
    messaging: bool = True

    @classmethod
    def start(cls, name: str, settings: Settings, migrations_dir: Path, *, messaging: bool = True) -> ServiceContext:
        """Every web process and worker starts here, so this is where one refuses the public
        secrets (PublicSecretsError), before it touches its database or the broker. The
        sandbox (`messaging=False`) has no outbox and never talks to the broker."""
        settings.refuse_public_secrets()
        public = settings.dev_secrets_in_use()
        if public:
            log.warning("public_secrets_allowed", service=name, secrets=sorted(public),
                        reason="ALLOW_DEV_SECRETS=true: anyone can forge tokens, webhooks and operator calls")
        url = settings.database_url(name)
        if settings.migrate_on_start:
            migrate(url, migrations_dir)
        engine = make_engine(url)
        sessions = session_factory(engine)
        publisher = DirectPublisher(name, settings, sessions).attach() if messaging else None
        return cls(name, settings, engine, sessions, publisher, migrations=Path(migrations_dir), messaging=messaging)

    def spawn(self, loop: Callable[[threading.Event], None], name: str) -> threading.Thread:
        """A thread of this process that runs `loop(stopping)` until `stop`, which waits for it."""
        thread = threading.Thread(target=loop, args=(self.stopping,), name=name, daemon=True)
        self.threads.append(thread)
        thread.start()
        return thread

    def report_state(self, queries: list[tuple[metrics.Gauge, Any]]) -> None:
        """Report these gauges, read from this service's database, at every scrape of the
        process's metrics (shared/metrics.py): its worker's, which owns the service's loops."""
        self.undo.append(metrics.watch_state(self.name, metrics.read_state(self.sessions, queries)))

    def stop(self, timeout: float = 5.0) -> None:
        """The process (or a test's system) is done: its own threads end, the marks of what
        was published are written, and no connection to its database is left open, so the
        database can be copied or dropped at once."""
        self.stopping.set()
        for undo in self.undo:
            undo()
        for thread in self.threads:
            thread.join(timeout)
        if self.publisher is not None:
            self.publisher.close()
        tracing.flush(self.name)
        self.engine.dispose()
