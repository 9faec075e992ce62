"""Worker entry point: `python -m services.wallet.worker` (consumers and outbox relay)."""

from shared.logging import configure_logging
from services.wallet.app import create_worker

if __name__ == "__main__":
    configure_logging()
    create_worker().run_forever()
