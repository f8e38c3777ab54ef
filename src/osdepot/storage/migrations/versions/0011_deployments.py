"""A host's running deployment: its job, profile, token (a SHA-256), when its state
last changed, its sealed configuration volume and unattended file, and the links it
issued.

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("hosts") as b:
        b.add_column(sa.Column("deploy_job", sa.Integer, nullable=True))
        b.add_column(sa.Column("deploy_profile", sa.String(300), nullable=True))
        b.add_column(sa.Column("deploy_token_hash", sa.String(64), nullable=True))
        b.add_column(sa.Column("deploy_state_at", sa.Float, nullable=True))
        b.add_column(sa.Column("deploy_media", sa.Text, nullable=True))
        b.add_column(sa.Column("deploy_unattend", sa.Text, nullable=True))
        b.add_column(sa.Column("deploy_links", sa.Text, nullable=True))
    op.create_index("ix_hosts_token", "hosts", ["deploy_token_hash"], unique=True)


def downgrade() -> None:
    op.drop_index("ix_hosts_token", "hosts")
    with op.batch_alter_table("hosts") as b:
        for name in ("deploy_links", "deploy_unattend", "deploy_media", "deploy_state_at",
                     "deploy_token_hash", "deploy_profile", "deploy_job"):  # fmt: skip
            b.drop_column(name)
