"""gunicorn entry point: `gunicorn services.notify.wsgi:app`."""

from services.notify.app import create_app
from shared.logging import configure_logging

configure_logging()
app = create_app()
