"""Remote file-server profiles, and the server an import job pulls from.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "remote_servers",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("display_name", sa.String(128), nullable=False, unique=True),
        sa.Column("address", sa.String(255), nullable=False),
        sa.Column("port", sa.Integer, nullable=False),
        sa.Column("protocol", sa.String(8), nullable=False),
        sa.Column("username", sa.String(128), nullable=False, server_default=""),
        sa.Column("password_enc", sa.Text, nullable=False, server_default=""),
        sa.Column("key_type", sa.String(32), nullable=False, server_default=""),
        sa.Column("private_key_enc", sa.Text, nullable=False, server_default=""),
        sa.Column("passphrase_enc", sa.Text, nullable=False, server_default=""),
        sa.Column("key_comment", sa.String(255), nullable=False, server_default=""),
        sa.Column("public_key", sa.Text, nullable=False, server_default=""),
        sa.Column("host_key", sa.Text, nullable=False, server_default=""),
        sa.Column("host_key_fingerprint", sa.String(128), nullable=False, server_default=""),
        sa.Column("ca_cert", sa.Text, nullable=False, server_default=""),
        sa.Column("verify_tls", sa.Boolean, nullable=False, server_default=sa.true()),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("server_id", sa.Integer))


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("server_id")
    op.drop_table("remote_servers")
