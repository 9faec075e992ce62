"""notify: doorbells, so the worker wakes when another process queues work

Revision ID: 49aa55f0e2dd
Revises: 742acb9479a4
Create Date: 2026-11-24 14:40:00.000000
"""
from collections.abc import Sequence

from shared import doorbell

revision: str = '49aa55f0e2dd'
down_revision: str | None = '742acb9479a4'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ('outbox', 'receipts',)


def upgrade() -> None:
    doorbell.install(*TABLES)


def downgrade() -> None:
    doorbell.uninstall(*TABLES)
