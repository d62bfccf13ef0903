"""index the access log's commit times, so a period export starts near its period

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_log_leaves_created_at", "log_leaves", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_log_leaves_created_at", table_name="log_leaves")
