"""gunicorn entry point: `gunicorn services.wallet.wsgi:app`."""

from services.wallet.app import create_app
from shared.logging import configure_logging

configure_logging()
app = create_app()
