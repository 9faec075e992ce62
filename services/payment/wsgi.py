"""gunicorn entry point: `gunicorn services.payment.wsgi:app`."""

from services.payment.app import create_app
from shared.logging import configure_logging

configure_logging()
app = create_app()
