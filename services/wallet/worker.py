"""Worker entry point: `python -m services.wallet.worker` (consumers and outbox relay)."""

from services.wallet.app import create_worker
from shared.logging import configure_logging

if __name__ == "__main__":
    configure_logging()
    create_worker().run_forever()
