"""rate limits: counts per subject, measure and window; distinct customers per window

Revision ID: 0010
Revises: 0006

New tables (issue #12) written by the access-log writer under the append lock, in the same
transaction as the records they count: `rate_counts` (requests per minute and distinct
customers per hour and per day, per system and per employee, with whether the window's alert
record was written) and `rate_customers` (each customer counted once per subject and window).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rate_counts",
        sa.Column("subject", sa.String(length=255), nullable=False),
        sa.Column("measure", sa.String(length=32), nullable=False),
        sa.Column("bucket", sa.BigInteger(), nullable=False, autoincrement=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.Column("alerted", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("subject", "measure", "bucket", name=op.f("pk_rate_counts")),
        sqlite_with_rowid=False,  # SQLite: rows kept in the key's B-tree, one write per row
    )
    op.create_table(
        "rate_customers",
        sa.Column("subject", sa.String(length=255), nullable=False),
        sa.Column("window", sa.String(length=8), nullable=False),
        sa.Column("bucket", sa.BigInteger(), nullable=False, autoincrement=False),
        sa.Column("customer_key", sa.CHAR(length=32), nullable=False),
        sa.PrimaryKeyConstraint("subject", "window", "bucket", "customer_key",
                                name=op.f("pk_rate_customers")),
        sqlite_with_rowid=False,
    )


def downgrade() -> None:
    op.drop_table("rate_customers")
    op.drop_table("rate_counts")
