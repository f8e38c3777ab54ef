"""Initial catalog: users, sessions, jobs, files, OS images, profiles.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("role", sa.String(64), nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("failed_logins", sa.Integer, nullable=False, server_default="0"),
    )
    op.create_table(
        "sessions",
        sa.Column("token_hash", sa.String(64), primary_key=True),
        sa.Column("csrf", sa.String(64), nullable=False),
        sa.Column(
            "user_name",
            sa.String(64),
            sa.ForeignKey("users.name", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("last_seen", sa.Float, nullable=False),
        sa.Column("address", sa.String(64), nullable=False, server_default=""),
    )
    op.create_index("ix_sessions_user_name", "sessions", ["user_name"])
    op.create_table(
        "jobs",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("uuid", sa.String(32), nullable=False, unique=True),
        sa.Column("image_type", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("start_time", sa.Float),
        sa.Column("end_time", sa.Float),
        sa.Column("percentage", sa.Integer, nullable=False, server_default="0"),
        sa.Column("declared_size", sa.BigInteger),
        sa.Column("bytes_total", sa.BigInteger),
        sa.Column("bytes_received", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("file_id", sa.String(300)),
        sa.Column("file_name", sa.String(300)),
        sa.Column("uploads", sa.Integer, nullable=False, server_default="0"),
        sa.Column("message", sa.Text),
        sa.Column("cancelled_by", sa.String(64)),
        sa.Column("description", sa.Text, nullable=False, server_default=""),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_jobs_status", "jobs", ["status"])
    op.create_table(
        "files",
        sa.Column("id", sa.String(300), primary_key=True),
        sa.Column("image_type", sa.String(16), nullable=False),
        sa.Column("name", sa.String(300), nullable=False),
        sa.Column("os", sa.String(32)),
        sa.Column("osrelease", sa.String(64)),
        sa.Column("description", sa.Text, nullable=False, server_default=""),
        sa.Column("image_name", sa.String(128)),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("checksums", sa.Text, nullable=False, server_default="{}"),
        sa.Column("blob_key", sa.String(64), nullable=False, unique=True),
        sa.Column("imported_by", sa.String(64), nullable=False),
        sa.Column("imported_at", sa.Float, nullable=False),
        sa.Column("job_id", sa.Integer),
    )
    op.create_index("ix_files_image_type", "files", ["image_type"])
    op.create_table(
        "os_images",
        sa.Column("id", sa.String(128), primary_key=True),
        sa.Column("name", sa.String(300), nullable=False),
        sa.Column("description", sa.Text, nullable=False, server_default=""),
        sa.Column("os", sa.String(32)),
        sa.Column("osrelease", sa.String(64)),
        sa.Column("file_id", sa.String(300), sa.ForeignKey("files.id"), nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_table(
        "profiles",
        sa.Column("id", sa.String(300), primary_key=True),
        sa.Column(
            "image_id",
            sa.String(128),
            sa.ForeignKey("os_images.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("name", sa.String(300), nullable=False),
        sa.Column("profile", sa.String(128), nullable=False),
        sa.Column("type", sa.String(16), nullable=False),
        sa.Column("description", sa.Text, nullable=False, server_default=""),
    )
    op.create_index("ix_profiles_image_id", "profiles", ["image_id"])


def downgrade() -> None:
    for table in ("profiles", "os_images", "files", "jobs", "sessions", "users"):
        op.drop_table(table)
