"""What every service process starts from: its settings, its migrated database, a session
factory that publishes each commit's outbox rows once it commits (shared/messaging/direct.py).
Built by the app factory and by the worker; nothing happens at import time."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import structlog
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

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

    @classmethod
    def start(cls, name: str, settings: Settings, migrations_dir: Path) -> ServiceContext:
        """Every web process and worker starts here, so this is where one refuses the public
        secrets (PublicSecretsError), before it touches its database or the broker."""
        settings.refuse_public_secrets()
        public = settings.dev_secrets_in_use()
        if public:
            log.warning("public_secrets_allowed", service=name, secrets=sorted(public),
                        reason="ALLOW_DEV_SECRETS=true: anyone can forge tokens, webhooks and operator calls")
        url = settings.database_url(name)
        migrate(url, migrations_dir)
        engine = make_engine(url)
        sessions = session_factory(engine)
        return cls(name, settings, engine, sessions, DirectPublisher(name, settings, sessions).attach())
