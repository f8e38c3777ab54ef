"""Resumable uploads (tus 1.0 and the IETF draft): one row per upload in progress,
with its job, its durable offset, its staging area and who may continue it.

Revision ID: 0012
Revises: 0011
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "uploads",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("job_id", sa.Integer, nullable=False, unique=True),
        sa.Column("created_by", sa.String(64), nullable=False, index=True),
        sa.Column("length", sa.BigInteger, nullable=True),
        sa.Column("offset_bytes", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("filename", sa.String(300), nullable=False),
        sa.Column("params", sa.Text, nullable=False, server_default="{}"),
        sa.Column("protocol", sa.String(16), nullable=False),
        sa.Column("staging", sa.String(300), nullable=False),
        sa.Column("node", sa.String(200), nullable=False, server_default=""),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("expires_at", sa.Float, nullable=False, index=True),
        sa.Column("holder", sa.String(240), nullable=True),
        sa.Column("held_until", sa.Float, nullable=True),
    )


def downgrade() -> None:
    op.drop_table("uploads")
