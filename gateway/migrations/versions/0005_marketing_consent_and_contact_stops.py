"""marketing consent per channel with night flag, reconfirmation and refusal notice; contact stops

Revision ID: 0005
Revises: 0004

Consents gain `night_contact` (정보통신망법 제50조 ③), `confirmed_at` (제50조 ⑧; existing rows:
their grant time) and `refusal_right_notified` (개인정보 보호법 제22조 ⑤). Existing rows get
`false` for both flags: nobody recorded that the customer was told of the right to refuse or
allowed night contact, so existing marketing consents stop granting (`consent_unconfirmed`)
until reconfirmed through `POST /v1/consents/{id}/confirm`, and allow daytime contact only.
Channels are renamed to the controlled vocabulary (`phone` → `agent_call`, `app_push` → `push`,
`mail` → `post`). New table `contact_stops` (수신거부, 신용정보법 제37조 ②).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

RENAMED = {"phone": "agent_call", "app_push": "push", "mail": "post"}


def upgrade() -> None:
    with op.batch_alter_table("consents", schema=None) as batch_op:
        batch_op.add_column(sa.Column("night_contact", sa.Boolean(), nullable=False,
                                      server_default=sa.false()))
        batch_op.add_column(sa.Column("confirmed_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("refusal_right_notified", sa.Boolean(), nullable=False,
                                      server_default=sa.false()))
    op.execute("UPDATE consents SET confirmed_at = granted_at")
    consents = sa.table("consents", sa.column("channel", sa.String))
    for old, new in RENAMED.items():
        op.execute(consents.update().where(consents.c.channel == old).values(channel=new))
    with op.batch_alter_table("consents", schema=None) as batch_op:
        batch_op.alter_column("confirmed_at", existing_type=sa.DateTime(timezone=True),
                              nullable=False)

    op.create_table(
        "contact_stops",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("customer_key", sa.CHAR(length=32), nullable=False),
        sa.Column("scope", sa.String(length=32), nullable=True),
        sa.Column("channels", sa.Text(), nullable=True),
        sa.Column("reason", sa.String(length=32), nullable=False),
        sa.Column("registered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("registered_by_system", sa.String(length=64), nullable=False),
        sa.Column("registered_by_employee", sa.String(length=128), nullable=False),
        sa.Column("lifted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("lifted_by_system", sa.String(length=64), nullable=True),
        sa.Column("lifted_by_employee", sa.String(length=128), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contact_stops")),
    )
    op.create_index("ix_contact_stops_customer_key", "contact_stops", ["customer_key"])


def downgrade() -> None:
    op.drop_index("ix_contact_stops_customer_key", table_name="contact_stops")
    op.drop_table("contact_stops")
    consents = sa.table("consents", sa.column("channel", sa.String))
    for old, new in RENAMED.items():
        op.execute(consents.update().where(consents.c.channel == new).values(channel=old))
    with op.batch_alter_table("consents", schema=None) as batch_op:
        batch_op.drop_column("refusal_right_notified")
        batch_op.drop_column("confirmed_at")
        batch_op.drop_column("night_contact")
