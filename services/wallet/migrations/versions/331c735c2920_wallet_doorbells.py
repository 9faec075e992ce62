"""wallet: doorbells, so the worker wakes when another process queues work

Revision ID: 331c735c2920
Revises: 3ccf625569da
Create Date: 2026-11-24 14:40:00.000000
"""
from collections.abc import Sequence

from shared import doorbell

revision: str = '331c735c2920'
down_revision: str | None = '3ccf625569da'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ('outbox',)


def upgrade() -> None:
    doorbell.install(*TABLES)


def downgrade() -> None:
    doorbell.uninstall(*TABLES)
