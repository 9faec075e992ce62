"""Worker entry point: `python -m services.order.worker` (saga consumers, outbox relay, deadlines)."""

from services.order.app import create_worker
from shared.logging import configure_logging

if __name__ == "__main__":
    configure_logging()
    create_worker().run_forever()
