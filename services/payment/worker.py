"""Worker entry point: `python -m services.payment.worker` (consumers, outbox relay, the refund
and query loops and, with the sandbox on, its webhook sender)."""

from services.payment.app import create_worker
from shared.logging import configure_logging

if __name__ == "__main__":
    configure_logging()
    create_worker().run_forever()
