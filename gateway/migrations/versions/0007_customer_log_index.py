"""per-customer index of the access log (access history, issue #11)

Revision ID: 0007
Revises: 0006

New table `customer_log_index`: one row per access record that names a customer (customer key,
log index, the record's time and purpose), written by the access-log writer in the record's own
transaction. A new index on `campaign_leaves.customer_key` finds the campaigns that included a
customer. Records appended before this revision are indexed by `gateway db index-history`
(streams the log in chunks; safe to run again, also while the gateway serves).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "customer_log_index",
        sa.Column("customer_key", sa.CHAR(length=32), nullable=False),
        sa.Column("log_index", sa.BigInteger(), nullable=False, autoincrement=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("purpose", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("customer_key", "log_index", name=op.f("pk_customer_log_index")),
        sqlite_with_rowid=False,
    )
    op.create_index("ix_campaign_leaves_customer_key", "campaign_leaves", ["customer_key"])


def downgrade() -> None:
    op.drop_index("ix_campaign_leaves_customer_key", table_name="campaign_leaves")
    op.drop_table("customer_log_index")
