"""order idempotency key on the order row

Placing an order wrote its Idempotency-Key as a row of its own; the key and its request's
hash now live on the order's row (one INSERT fewer per top-up). Keys already given are
copied onto their orders, and back on a downgrade.

Revision ID: e909e7e3c20b
Revises: 3c384c02f7c6
Create Date: 2026-11-29 17:10:29.504956
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = 'e909e7e3c20b'
down_revision: str | None = '3c384c02f7c6'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.add_column(sa.Column('idempotency_key', sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column('request_hash', sa.String(length=64), nullable=True))
    op.execute(
        "UPDATE orders SET "
        "idempotency_key = (SELECT k.key FROM idempotency_keys k WHERE k.order_id = orders.id), "
        "request_hash = (SELECT k.request_hash FROM idempotency_keys k WHERE k.order_id = orders.id)")
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.create_index('uq_orders_customer_idempotency_key', ['customer_id', 'idempotency_key'], unique=True)
    op.drop_table('idempotency_keys')


def downgrade() -> None:
    op.create_table(
        'idempotency_keys',
        sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
        sa.Column('customer_id', sa.String(length=40), nullable=False),
        sa.Column('key', sa.String(length=255), nullable=False),
        sa.Column('request_hash', sa.String(length=64), nullable=False),
        sa.Column('order_id', sa.String(length=40), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['order_id'], ['orders.id'], name=op.f('fk_idempotency_keys_order_id_orders')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_idempotency_keys')),
        sa.UniqueConstraint('customer_id', 'key', name=op.f('uq_idempotency_keys_customer_id')),
    )
    op.execute(
        "INSERT INTO idempotency_keys (customer_id, key, request_hash, order_id, created_at) "
        "SELECT customer_id, idempotency_key, request_hash, id, created_at FROM orders "
        "WHERE idempotency_key IS NOT NULL")
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.drop_index('uq_orders_customer_idempotency_key')
        batch_op.drop_column('request_hash')
        batch_op.drop_column('idempotency_key')
