"""releases (use-by and destruction at the recipient) and the log followers' positions

Revision ID: 0008
Revises: 0006

New table `releases` (issue #11): one row per access record that released something, with the
recipient, the KST use-by day and, once confirmed, the index of the destruction record. Written
by a follower of the log (`gateway.rights.releases`), never by the query path; a partial index
on `use_by` over the rows not yet confirmed serves `gateway review overdue` however many
releases were confirmed before. New table `log_followers`: the next log index each follower
has to read (its position moves in the same transaction as the rows it wrote).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

OPEN = sa.text("destruction_index IS NULL")


def upgrade() -> None:
    op.create_table(
        "releases",
        sa.Column("log_index", sa.BigInteger(), nullable=False, autoincrement=False),
        sa.Column("recipient", sa.String(length=32), nullable=False),
        sa.Column("use_by", sa.Date(), nullable=False),
        sa.Column("destruction_index", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("log_index", name=op.f("pk_releases")),
    )
    op.create_index("ix_releases_open_use_by", "releases", ["use_by"],
                    sqlite_where=OPEN, postgresql_where=OPEN)
    op.create_table(
        "log_followers",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("next_index", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_log_followers")),
    )


def downgrade() -> None:
    op.drop_table("log_followers")
    op.drop_index("ix_releases_open_use_by", table_name="releases")
    op.drop_table("releases")
