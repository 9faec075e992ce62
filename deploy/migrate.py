"""`python -m deploy.migrate [service ...]`: bring each service's database (all four when none
is named) to the newest migration, then exit. The Kubernetes manifests run it as a Job
before the new processes start, with MIGRATE_ON_START=false for the processes themselves:
one migrator instead of every replica racing to migrate, and a process whose database is
not where its code expects stays unready (/readyz) instead of serving.
"""

from __future__ import annotations

import sys
from pathlib import Path

import structlog

from shared.config import SERVICES, Settings
from shared.db import migrate
from shared.logging import configure_logging

ROOT = Path(__file__).resolve().parent.parent
log = structlog.get_logger("deploy.migrate")


def main(argv: list[str]) -> int:
    configure_logging()
    unknown = [name for name in argv if name not in SERVICES]
    if unknown:
        print(f"unknown service(s): {', '.join(unknown)}; the services are {', '.join(SERVICES)}", file=sys.stderr)
        return 2
    settings = Settings.from_env()
    for service in argv or list(SERVICES):
        migrate(settings.database_url(service), ROOT / "services" / service / "migrations")
        log.info("migrated", service=service)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
