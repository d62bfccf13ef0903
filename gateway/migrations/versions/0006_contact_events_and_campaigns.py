"""contact events (frequency caps) and campaigns (extraction, commitment leaves, destruction)

Revision ID: 0006
Revises: 0005

New table `contact_events` (issue #10): one row per customer and channel a marketing access
record released a contact attribute for, written by the access-log writer in the record's own
transaction under the append lock. Caps count these rows within a rolling window.
New tables `campaigns` (one row per campaign extraction: its progress, counts, Merkle root,
use-by and destruction confirmation) and `campaign_leaves` (the per-customer leaves the
closing record's root commits to, kept for inclusion proofs).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "contact_events",
        sa.Column("log_index", sa.BigInteger(), nullable=False, autoincrement=False),
        sa.Column("customer_key", sa.CHAR(length=32), nullable=False),
        sa.Column("channel", sa.String(length=32), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("log_index", "customer_key", "channel",
                                name=op.f("pk_contact_events")),
    )
    op.create_index("ix_contact_events_customer_channel_at", "contact_events",
                    ["customer_key", "channel", "at"])
    op.create_table(
        "campaigns",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("recipient", sa.String(length=32), nullable=False),
        sa.Column("system", sa.String(length=64), nullable=False),
        sa.Column("employee", sa.String(length=128), nullable=False),
        sa.Column("purpose", sa.String(length=64), nullable=False),
        sa.Column("channel", sa.String(length=32), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("ticket", sa.String(length=128), nullable=False),
        sa.Column("segment", sa.Text(), nullable=False),
        sa.Column("policy_version", sa.String(length=80), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("use_by", sa.DateTime(timezone=True), nullable=False),
        sa.Column("candidates", sa.BigInteger(), nullable=False),
        sa.Column("released", sa.BigInteger(), nullable=False),
        sa.Column("sent", sa.BigInteger(), nullable=False),
        sa.Column("withheld", sa.Text(), nullable=False),
        sa.Column("open_index", sa.BigInteger(), nullable=False),
        sa.Column("close_index", sa.BigInteger(), nullable=True),
        sa.Column("root", sa.LargeBinary(), nullable=True),
        sa.Column("destroyed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("destruction_index", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaigns")),
    )
    op.create_index("ix_campaigns_use_by", "campaigns", ["use_by"])
    op.create_table(
        "campaign_leaves",
        sa.Column("campaign_id", sa.String(length=64), nullable=False),
        sa.Column("position", sa.BigInteger(), nullable=False, autoincrement=False),
        sa.Column("customer_key", sa.CHAR(length=32), nullable=False),
        sa.Column("leaf", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("campaign_id", "position", name=op.f("pk_campaign_leaves")),
    )
    op.create_index("ix_campaign_leaves_customer", "campaign_leaves",
                    ["campaign_id", "customer_key"])


def downgrade() -> None:
    op.drop_index("ix_campaign_leaves_customer", table_name="campaign_leaves")
    op.drop_table("campaign_leaves")
    op.drop_index("ix_campaigns_use_by", table_name="campaigns")
    op.drop_table("campaigns")
    op.drop_index("ix_contact_events_customer_channel_at", table_name="contact_events")
    op.drop_table("contact_events")
