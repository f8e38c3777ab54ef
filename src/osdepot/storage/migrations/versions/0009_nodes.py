"""Server processes sharing one catalog (nodes), the node running each job and the
name of its staging area.

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("jobs", sa.Column("node", sa.String(200), nullable=True))
    op.add_column("jobs", sa.Column("staging", sa.String(300), nullable=True))
    op.create_table(
        "nodes",
        sa.Column("name", sa.String(200), primary_key=True),
        sa.Column("address", sa.String(300), nullable=False, server_default=""),
        sa.Column("started_at", sa.Float, nullable=False),
        sa.Column("heartbeat_at", sa.Float, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("nodes")
    with op.batch_alter_table("jobs") as b:
        b.drop_column("staging")
        b.drop_column("node")
