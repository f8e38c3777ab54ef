"""What recognition learnt about an OS image: version, architecture, osinfo id,
build, and details (editions, variants, evidence).

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("os_images") as batch:
        batch.add_column(sa.Column("version", sa.String(64)))
        batch.add_column(sa.Column("arch", sa.String(32)))
        batch.add_column(sa.Column("osinfo_id", sa.String(64)))
        batch.add_column(sa.Column("build", sa.String(64)))
        batch.add_column(sa.Column("details", sa.Text, nullable=False, server_default="{}"))


def downgrade() -> None:
    with op.batch_alter_table("os_images") as batch:
        for name in ("details", "build", "osinfo_id", "arch", "version"):
            batch.drop_column(name)
