"""notify: emails are claimed before they are sent

A mailer now claims an email (status `sending`, a claim token, when it was claimed) in a
short transaction of its own, sends it with no transaction open, and marks it sent in
another; a claim abandoned by a crashed mailer is taken again once `next_attempt_at`, the
end of its lease, has passed. So the due index covers claimed emails too. Existing rows
are pending or sent: they need no claim.

Revision ID: b6376b37e811
Revises: b71c4e2a9d10
Create Date: 2026-11-29 05:22:22.937471
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = 'b6376b37e811'
down_revision: str | None = 'b71c4e2a9d10'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PENDING = "status = 'pending'"
UNSENT = "status IN ('pending', 'sending')"


def upgrade() -> None:
    with op.batch_alter_table('emails', schema=None) as batch_op:
        batch_op.add_column(sa.Column('claim_token', sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column('claimed_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.drop_index('ix_emails_due')
        batch_op.create_index('ix_emails_due', ['next_attempt_at'], unique=False,
                              postgresql_where=sa.text(UNSENT), sqlite_where=sa.text(UNSENT))


def downgrade() -> None:
    # An email being sent right now goes back to pending: the old mailer sends it (again,
    # with the same Message-ID, if this one got as far as the mail server).
    op.execute("UPDATE emails SET status = 'pending' WHERE status = 'sending'")
    with op.batch_alter_table('emails', schema=None) as batch_op:
        batch_op.drop_index('ix_emails_due')
    with op.batch_alter_table('emails', schema=None) as batch_op:
        batch_op.drop_column('claimed_at')
        batch_op.drop_column('claim_token')
    with op.batch_alter_table('emails', schema=None) as batch_op:
        batch_op.create_index('ix_emails_due', ['next_attempt_at'], unique=False,
                              postgresql_where=sa.text(PENDING), sqlite_where=sa.text(PENDING))
