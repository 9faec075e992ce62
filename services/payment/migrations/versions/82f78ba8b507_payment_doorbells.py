"""payment: doorbells, so the worker wakes when another process queues work

Revision ID: 82f78ba8b507
Revises: 2c63518ff326
Create Date: 2026-11-24 14:40:00.000000
"""
from collections.abc import Sequence

from shared import doorbell

revision: str = '82f78ba8b507'
down_revision: str | None = '2c63518ff326'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ('outbox', 'refunds', 'sandbox_webhook_deliveries',)


def upgrade() -> None:
    doorbell.install(*TABLES)


def downgrade() -> None:
    doorbell.uninstall(*TABLES)
