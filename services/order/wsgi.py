"""gunicorn entry point: `gunicorn services.order.wsgi:app`."""

from services.order.app import create_app
from shared.logging import configure_logging

configure_logging()
app = create_app()
