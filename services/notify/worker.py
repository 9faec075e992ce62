"""Worker entry point: `python -m services.notify.worker` (consumers, outbox relay, mailer)."""

from services.notify.app import create_worker
from shared.logging import configure_logging

if __name__ == "__main__":
    configure_logging()
    create_worker().run_forever()
