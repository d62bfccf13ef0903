"""access log tables are append-only: triggers refuse UPDATE, DELETE and TRUNCATE

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

from alembic import op

from gateway.accesslog.append_only import install, remove

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    install(op.get_bind())


def downgrade() -> None:
    remove(op.get_bind())
