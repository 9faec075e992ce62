"""order: announce each timeline entry, so a web process can wake a frontend waiting on its order

Revision ID: 5d0e7c1f9a42
Revises: c8b5f28736bc
Create Date: 2026-11-24 15:20:00.000000
"""
from collections.abc import Sequence

from shared import doorbell

revision: str = '5d0e7c1f9a42'
down_revision: str | None = 'c8b5f28736bc'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    doorbell.install_announcement("order_timeline", "order_id")


def downgrade() -> None:
    doorbell.uninstall_announcement("order_timeline")
