"""order: doorbells, so the worker wakes when another process queues work

Revision ID: c8b5f28736bc
Revises: 9187aa068bd2
Create Date: 2026-11-24 14:40:00.000000
"""
from collections.abc import Sequence

from shared import doorbell

revision: str = 'c8b5f28736bc'
down_revision: str | None = '9187aa068bd2'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ('outbox',)


def upgrade() -> None:
    doorbell.install(*TABLES)


def downgrade() -> None:
    doorbell.uninstall(*TABLES)
