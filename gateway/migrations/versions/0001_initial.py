"""initial schema: registry, relationships, consents, used tokens, access log

Revision ID: 0001
Revises: 
Create Date: 2026-11-23 19:09:29.279531
"""
from __future__ import annotations

from alembic import op
import sqlalchemy as sa


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('consents',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('customer_key', sa.CHAR(length=32), nullable=False),
    sa.Column('recipient', sa.String(length=32), nullable=False),
    sa.Column('purpose', sa.String(length=64), nullable=False),
    sa.Column('categories', sa.Text(), nullable=False),
    sa.Column('channel', sa.String(length=32), nullable=True),
    sa.Column('granted_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('withdrawn_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('evidence_ref', sa.Text(), nullable=False),
    sa.Column('granted_by_system', sa.String(length=64), nullable=False),
    sa.Column('granted_by_employee', sa.String(length=128), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_consents'))
    )
    with op.batch_alter_table('consents', schema=None) as batch_op:
        batch_op.create_index('ix_consents_customer_recipient_purpose', ['customer_key', 'recipient', 'purpose'], unique=False)

    op.create_table('customers',
    sa.Column('customer_key', sa.CHAR(length=32), nullable=False),
    sa.Column('rrn_blind_index', sa.LargeBinary(), nullable=False),
    sa.Column('rrn_ciphertext', sa.LargeBinary(), nullable=False),
    sa.Column('id_kind', sa.String(length=16), nullable=False),
    sa.Column('id_form', sa.String(length=32), nullable=False),
    sa.Column('key_version', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("id_kind IN ('resident', 'foreigner')", name=op.f('ck_customers_id_kind')),
    sa.PrimaryKeyConstraint('customer_key', name=op.f('pk_customers'))
    )
    with op.batch_alter_table('customers', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_customers_rrn_blind_index'), ['rrn_blind_index'], unique=True)

    op.create_table('log_checkpoints',
    sa.Column('size', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=False, nullable=False),
    sa.Column('root_hash', sa.LargeBinary(length=32), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('size', name=op.f('pk_log_checkpoints'))
    )
    op.create_table('log_head',
    sa.Column('id', sa.SmallInteger(), autoincrement=False, nullable=False),
    sa.Column('size', sa.BigInteger(), nullable=False),
    sa.Column('root_hash', sa.LargeBinary(length=32), nullable=False),
    sa.Column('frontier', sa.LargeBinary(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_log_head'))
    )
    op.create_table('log_leaves',
    sa.Column('idx', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=False, nullable=False),
    sa.Column('leaf_hash', sa.LargeBinary(length=32), nullable=False),
    sa.Column('record', sa.LargeBinary(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('idx', name=op.f('pk_log_leaves'))
    )
    op.create_table('log_nodes',
    sa.Column('level', sa.SmallInteger(), autoincrement=False, nullable=False),
    sa.Column('idx', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('hash', sa.LargeBinary(length=32), nullable=False),
    sa.PrimaryKeyConstraint('level', 'idx', name=op.f('pk_log_nodes')),
    sqlite_with_rowid=False
    )
    op.create_table('used_tokens',
    sa.Column('jti', sa.String(length=255), nullable=False),
    sa.Column('system', sa.String(length=64), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('jti', name=op.f('pk_used_tokens'))
    )
    with op.batch_alter_table('used_tokens', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_used_tokens_expires_at'), ['expires_at'], unique=False)

    op.create_table('relationships',
    sa.Column('customer_key', sa.CHAR(length=32), nullable=False),
    sa.Column('affiliate', sa.String(length=32), nullable=False),
    sa.Column('since', sa.Date(), nullable=False),
    sa.ForeignKeyConstraint(['customer_key'], ['customers.customer_key'], name=op.f('fk_relationships_customer_key_customers'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('customer_key', 'affiliate', name=op.f('pk_relationships'))
    )


def downgrade() -> None:
    op.drop_table('relationships')
    with op.batch_alter_table('used_tokens', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_used_tokens_expires_at'))

    op.drop_table('used_tokens')
    op.drop_table('log_nodes')
    op.drop_table('log_leaves')
    op.drop_table('log_head')
    op.drop_table('log_checkpoints')
    with op.batch_alter_table('customers', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_customers_rrn_blind_index'))

    op.drop_table('customers')
    with op.batch_alter_table('consents', schema=None) as batch_op:
        batch_op.drop_index('ix_consents_customer_recipient_purpose')

    op.drop_table('consents')
