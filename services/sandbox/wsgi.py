"""gunicorn entry point: `gunicorn services.sandbox.wsgi:app`."""

from services.sandbox.app import create_app
from shared.logging import configure_logging

configure_logging()
app = create_app()
