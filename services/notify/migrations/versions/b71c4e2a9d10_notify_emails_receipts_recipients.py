"""notify: emails (every email owed), numbered receipts, recipients

What was `receipts` (the emails owed, receipts and reversal notices) becomes `emails`, keyed
by (kind, reference) so that emails not about an order (reminders, expiries) fit; its rows
are copied over with the order as their reference. `receipts` is now the receipt itself:
its number and its words. `recipients` keeps the customers' addresses and languages.

Revision ID: b71c4e2a9d10
Revises: 49aa55f0e2dd
Create Date: 2026-11-29 03:10:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from shared import doorbell

revision: str = 'b71c4e2a9d10'
down_revision: str | None = '49aa55f0e2dd'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = ('id', 'order_id', 'kind', 'customer_id', 'email', 'subject', 'text_body', 'html_body', 'status',
           'attempts', 'next_attempt_at', 'last_error', 'created_at', 'sent_at')


def upgrade() -> None:
    op.create_table('emails',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('kind', sa.String(length=24), nullable=False),
    sa.Column('reference', sa.String(length=100), nullable=False),
    sa.Column('order_id', sa.String(length=64), nullable=True),
    sa.Column('customer_id', sa.String(length=64), nullable=False),
    sa.Column('email', sa.String(length=320), nullable=False),
    sa.Column('language', sa.String(length=8), server_default='en', nullable=False),
    sa.Column('subject', sa.String(length=255), nullable=False),
    sa.Column('text_body', sa.Text(), nullable=False),
    sa.Column('html_body', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_error', sa.String(length=500), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_emails')),
    sa.UniqueConstraint('kind', 'reference', name=op.f('uq_emails_kind'))
    )
    with op.batch_alter_table('emails', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_emails_customer_id'), ['customer_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_emails_order_id'), ['order_id'], unique=False)
        batch_op.create_index('ix_emails_due', ['next_attempt_at'], unique=False,
                              postgresql_where=sa.text("status = 'pending'"), sqlite_where=sa.text("status = 'pending'"))
    columns = ", ".join(COLUMNS)
    op.execute(f"INSERT INTO emails ({columns}, reference) SELECT {columns}, order_id FROM receipts")
    op.drop_table('receipts')
    doorbell.install('emails')

    op.create_table('receipts',
    sa.Column('order_id', sa.String(length=64), nullable=False),
    sa.Column('number', sa.String(length=32), nullable=False),
    sa.Column('customer_id', sa.String(length=64), nullable=False),
    sa.Column('language', sa.String(length=8), nullable=False),
    sa.Column('issued_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('document', sa.JSON(), nullable=False),
    sa.Column('email_id', sa.String(length=40), nullable=False),
    sa.PrimaryKeyConstraint('order_id', name=op.f('pk_receipts')),
    sa.UniqueConstraint('number', name=op.f('uq_receipts_number'))
    )
    with op.batch_alter_table('receipts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_receipts_customer_id'), ['customer_id'], unique=False)
    op.create_table('receipt_numbers',
    sa.Column('year', sa.Integer(), nullable=False),
    sa.Column('last', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('year', name=op.f('pk_receipt_numbers'))
    )
    op.create_table('recipients',
    sa.Column('customer_id', sa.String(length=64), nullable=False),
    sa.Column('email', sa.String(length=320), nullable=False),
    sa.Column('language', sa.String(length=8), nullable=False),
    sa.Column('time_zone', sa.String(length=64), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('customer_id', name=op.f('pk_recipients'))
    )


def downgrade() -> None:
    op.drop_table('recipients')
    op.drop_table('receipt_numbers')
    op.drop_table('receipts')
    op.create_table('receipts',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('order_id', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('customer_id', sa.String(length=64), nullable=False),
    sa.Column('email', sa.String(length=320), nullable=False),
    sa.Column('subject', sa.String(length=255), nullable=False),
    sa.Column('text_body', sa.Text(), nullable=False),
    sa.Column('html_body', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_error', sa.String(length=500), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_receipts')),
    sa.UniqueConstraint('order_id', 'kind', name=op.f('uq_receipts_order_id'))
    )
    columns = ", ".join(COLUMNS)
    op.execute(f"INSERT INTO receipts ({columns}) SELECT {columns} FROM emails "
               "WHERE kind IN ('receipt', 'reversal')")
    op.drop_table('emails')
    doorbell.install('receipts')
