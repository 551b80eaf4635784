"""What changed in the registry: a version per street, and what moved between grids.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "registry_version",
        sa.Column("street_code", sa.String(9), sa.ForeignKey("street.street_code"),
                  primary_key=True),
        sa.Column("version", sa.BigInteger, nullable=False, server_default="1"),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.func.now()),
    )
    op.create_table(
        "reassignment",
        sa.Column("id", sa.BigInteger, primary_key=True),
        sa.Column("street_code", sa.String(9), sa.ForeignKey("street.street_code"),
                  nullable=False),
        sa.Column("generation_id", sa.Integer,
                  sa.ForeignKey("generation.id", ondelete="CASCADE"), nullable=False),
        sa.Column("subject", sa.String(16), nullable=False),
        sa.Column("subject_code", sa.String(64), nullable=False),
        sa.Column("from_grid", sa.String(32)),
        sa.Column("to_grid", sa.String(32)),
        sa.Column("moved_at", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.func.now()),
    )
    op.create_index("ix_reassignment_generation", "reassignment",
                    ["street_code", "generation_id"])
    op.execute("INSERT INTO registry_version (street_code) SELECT street_code FROM street")


def downgrade() -> None:
    op.drop_table("reassignment")
    op.drop_table("registry_version")
