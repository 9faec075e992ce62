"""order idempotency key on the order row

Placing an order wrote its Idempotency-Key as a row of its own; the key and its request's
hash now live on the order's row (one INSERT fewer per top-up). Keys already given are
copied onto their orders (one UPDATE ... FROM, not a lookup per order), and back on a
downgrade. The old table stays for a release: the processes of the release before, still
serving while this one rolls out, write their keys there (a later migration drops it).

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
        "UPDATE orders SET idempotency_key = k.key, request_hash = k.request_hash "
        "FROM idempotency_keys AS k WHERE k.order_id = orders.id")
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.create_index('uq_orders_customer_idempotency_key', ['customer_id', 'idempotency_key'], unique=True)


def downgrade() -> None:
    op.execute(
        "INSERT INTO idempotency_keys (customer_id, key, request_hash, order_id, created_at) "
        "SELECT o.customer_id, o.idempotency_key, o.request_hash, o.id, o.created_at FROM orders AS o "
        "WHERE o.idempotency_key IS NOT NULL "
        "AND NOT EXISTS (SELECT 1 FROM idempotency_keys AS k WHERE k.customer_id = o.customer_id "
        "AND k.key = o.idempotency_key)")
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.drop_index('uq_orders_customer_idempotency_key')
        batch_op.drop_column('request_hash')
        batch_op.drop_column('idempotency_key')
