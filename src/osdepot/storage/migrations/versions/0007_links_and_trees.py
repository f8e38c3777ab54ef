"""Signed links to stored files and the index of each OS image's installation tree.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "links",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column(
            "file_id",
            sa.String(300),
            sa.ForeignKey("files.id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        ),
        sa.Column("tree", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("expires_at", sa.Float, nullable=False),
        sa.Column("revoked_at", sa.Float, nullable=True),
        sa.Column("uses", sa.Integer, nullable=False, server_default="0"),
        sa.Column("last_used_at", sa.Float, nullable=True),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "tree_entries",
        sa.Column(
            "file_id",
            sa.String(300),
            sa.ForeignKey("files.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("path", sa.String(4096), primary_key=True),
        sa.Column("parent", sa.String(4096), nullable=False),
        sa.Column("is_dir", sa.Boolean, nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("extents", sa.Text, nullable=False, server_default="[]"),
    )
    op.create_index("ix_tree_entries_parent", "tree_entries", ["file_id", "parent"])


def downgrade() -> None:
    op.drop_index("ix_tree_entries_parent", "tree_entries")
    op.drop_table("tree_entries")
    op.drop_table("links")
