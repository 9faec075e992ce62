"""gunicorn entry point: `gunicorn services.wallet.wsgi:app`."""

from shared.logging import configure_logging
from services.wallet.app import create_app

configure_logging()
app = create_app()
