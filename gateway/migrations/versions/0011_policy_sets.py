"""policy sets: pending and live policy versions (four-eyes approval)

Revision ID: 0011
Revises: 0009 (0006 on its own branch; re-chained after merging the console)

New table `policy_sets` (issue #12): every policy set the gateway has checked, with its exact
files, who proposed it and who approved it. The live set is the one row in state `live`; every
gateway process follows it, so an approval made in one process (or by `gateway policy
approve`) reaches all of them, and a restart serves the approved set, not the files on disk.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "policy_sets",
        sa.Column("version", sa.String(length=80), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("files", sa.Text(), nullable=False),
        sa.Column("detected_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("detected_by", sa.String(length=32), nullable=False),
        sa.Column("proposed_by", sa.String(length=128), nullable=True),
        sa.Column("proposed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("proposal_index", sa.BigInteger(), nullable=True),
        sa.Column("approved_by", sa.String(length=128), nullable=True),
        sa.Column("approved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("approval_index", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("version", name=op.f("pk_policy_sets")),
    )
    op.create_index("ix_policy_sets_state", "policy_sets", ["state"])


def downgrade() -> None:
    op.drop_index("ix_policy_sets_state", table_name="policy_sets")
    op.drop_table("policy_sets")
