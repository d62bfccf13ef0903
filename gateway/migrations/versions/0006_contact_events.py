"""contact events: the marketing contacts counted against per-channel frequency caps

Revision ID: 0006
Revises: 0005

New table `contact_events` (issue #10): one row per customer and channel a marketing access
record released a contact attribute for, written by the access-log writer in the record's own
transaction under the append lock. Caps count these rows within a rolling window.
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


def downgrade() -> None:
    op.drop_index("ix_contact_events_customer_channel_at", table_name="contact_events")
    op.drop_table("contact_events")
