"""gunicorn entry point: `gunicorn services.order.wsgi:app`."""

from shared.logging import configure_logging
from services.order.app import create_app

configure_logging()
app = create_app()
