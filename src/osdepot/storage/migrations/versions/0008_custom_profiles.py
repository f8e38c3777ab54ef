"""Customised OS-image profiles: the files each one holds, the profile it derives
from, and a version label on stored files (PUT /osImages/{id}).

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "profiles", sa.Column("base_profile", sa.String(300), nullable=False, server_default="")
    )
    op.add_column(
        "profiles", sa.Column("created_by", sa.String(64), nullable=False, server_default="")
    )
    op.add_column("profiles", sa.Column("created_at", sa.Float, nullable=True))
    op.add_column("files", sa.Column("version", sa.String(64), nullable=False, server_default=""))
    op.create_table(
        "profile_files",
        sa.Column(
            "profile_id",
            sa.String(300),
            sa.ForeignKey("profiles.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("file_id", sa.String(300), sa.ForeignKey("files.id"), primary_key=True),
        sa.Column("position", sa.Integer, nullable=False),
    )
    op.create_index("ix_profile_files_file", "profile_files", ["file_id"])


def downgrade() -> None:
    op.drop_index("ix_profile_files_file", "profile_files")
    op.drop_table("profile_files")
    with op.batch_alter_table("files") as b:
        b.drop_column("version")
    with op.batch_alter_table("profiles") as b:
        b.drop_column("created_at")
        b.drop_column("created_by")
        b.drop_column("base_profile")
