"""Worker entry point: `python -m services.sandbox.worker` (the sandbox's webhook sender)."""

from services.sandbox.app import create_worker
from shared.logging import configure_logging

if __name__ == "__main__":
    configure_logging()
    create_worker().run_forever()
