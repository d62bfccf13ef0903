"""customer numbers: `customers.customer_no` for legacy 13-digit (`ff1-13`) pseudonyms

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 20:40:00

Existing customers are numbered in `customer_key` order, in batches walked by primary-key range
(`UPDATE … FROM` a `ROW_NUMBER()` subquery): the database does the numbering, Python only
carries one key per batch, so a registry of tens of millions never passes through memory.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None

SEQUENCE = "customers_customer_no_seq"
BATCH = 50_000

_UPPER = sa.text(
    "SELECT customer_key FROM customers WHERE customer_key > :after "
    "ORDER BY customer_key LIMIT 1 OFFSET :skip"
)
_NUMBER = (
    "UPDATE customers SET customer_no = :base + numbered.rn "
    "FROM (SELECT customer_key, ROW_NUMBER() OVER (ORDER BY customer_key) AS rn "
    "      FROM customers WHERE customer_key > :after{upper}) AS numbered "
    "WHERE customers.customer_key = numbered.customer_key"
)


def _backfill(conn: sa.Connection) -> int:
    """Number every customer 1..n; returns n."""
    after, base = "", 0
    while True:
        upper = conn.execute(_UPPER, {"after": after, "skip": BATCH - 1}).scalar_one_or_none()
        params = {"after": after, "base": base}
        if upper is None:  # the last, partial batch
            done = conn.execute(sa.text(_NUMBER.format(upper="")), params).rowcount
            return base + done
        params["upper"] = upper
        done = conn.execute(
            sa.text(_NUMBER.format(upper=" AND customer_key <= :upper")), params).rowcount
        after, base = upper, base + done


def _sqlite_foreign_keys_off(conn: sa.Connection) -> None:
    """Rebuilding `customers` drops it; with foreign keys on, SQLite would run the implicit
    DELETE's `ON DELETE CASCADE` on `relationships` (https://www.sqlite.org/lang_droptable.html).
    The pragma only takes effect outside a transaction: refuse rather than lose rows. (The
    connection is discarded after the upgrade: `gateway db upgrade` disposes its engine.)"""
    conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
    if not conn.exec_driver_sql("PRAGMA foreign_keys").scalar():
        return
    if conn.exec_driver_sql("SELECT 1 FROM relationships LIMIT 1").first() is not None:
        raise RuntimeError("cannot rebuild `customers` with sqlite foreign keys on: run "
                           "`gateway db upgrade` on its own, outside a transaction")


def upgrade() -> None:
    conn = op.get_bind()
    sqlite = conn.dialect.name == "sqlite"
    if sqlite:
        _sqlite_foreign_keys_off(conn)
    else:
        op.execute(sa.schema.CreateSequence(sa.Sequence(SEQUENCE, start=1)))
    op.add_column('customers', sa.Column('customer_no', sa.BigInteger(), nullable=True))
    count = _backfill(conn)
    if not sqlite and count:
        # the sequence continues after the backfilled numbers (is_called: next is count + 1)
        conn.execute(sa.text(f"SELECT setval('{SEQUENCE}', :n, true)"), {"n": count})
    with op.batch_alter_table('customers', schema=None) as batch_op:
        batch_op.alter_column('customer_no', existing_type=sa.BigInteger(), nullable=False)
        batch_op.create_index(batch_op.f('ix_customers_customer_no'), ['customer_no'],
                              unique=True)


def downgrade() -> None:
    conn = op.get_bind()
    sqlite = conn.dialect.name == "sqlite"
    if sqlite:
        _sqlite_foreign_keys_off(conn)
    with op.batch_alter_table('customers', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_customers_customer_no'))
        batch_op.drop_column('customer_no')
    if not sqlite:
        op.execute(sa.schema.DropSequence(sa.Sequence(SEQUENCE)))
