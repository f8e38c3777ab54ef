"""BMCs, the systems they manage (hosts) with their deployment settings and state, and
named settings documents (the global deployment settings).

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "bmcs",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("url", sa.String(512), nullable=False, unique=True),
        sa.Column("username", sa.String(128), nullable=False),
        sa.Column("password_enc", sa.Text, nullable=False, server_default=""),
        sa.Column("ca_cert", sa.Text, nullable=False, server_default=""),
        sa.Column("verify_tls", sa.Boolean, nullable=False, server_default=sa.true()),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("refreshed_at", sa.Float, nullable=False),
        sa.Column("last_error", sa.Text, nullable=False, server_default=""),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "hosts",
        sa.Column("uuid", sa.String(32), primary_key=True),
        sa.Column(
            "bmc_id", sa.Integer, sa.ForeignKey("bmcs.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("system_path", sa.String(512), nullable=False),
        sa.Column("name", sa.String(255), nullable=False, server_default=""),
        sa.Column("manufacturer", sa.String(255), nullable=False, server_default=""),
        sa.Column("model", sa.String(255), nullable=False, server_default=""),
        sa.Column("serial", sa.String(255), nullable=False, server_default=""),
        sa.Column("macs", sa.Text, nullable=False, server_default="[]"),
        sa.Column("power_state", sa.String(32), nullable=False, server_default=""),
        sa.Column("virtual_cd", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("refreshed_at", sa.Float, nullable=False),
        sa.Column("network", sa.Text, nullable=True),
        sa.Column("storage", sa.Text, nullable=True),
        sa.Column("deploy_status", sa.Integer, nullable=False, server_default="0"),
        sa.Column("deploy_message", sa.Text, nullable=False, server_default=""),
    )
    op.create_index("ix_hosts_bmc", "hosts", ["bmc_id"])
    op.create_table(
        "settings",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("settings")
    op.drop_index("ix_hosts_bmc", "hosts")
    op.drop_table("hosts")
    op.drop_table("bmcs")
