"""Subdivided copies of the active grids, for fast point lookups.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "grid_part",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("street_code", sa.String(9), sa.ForeignKey("street.street_code"),
                  nullable=False),
        sa.Column("grid_id", sa.Integer, sa.ForeignKey("grid.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("geom", Geometry("POLYGON", srid=4326, spatial_index=False), nullable=False),
    )
    op.create_index("ix_grid_part_geom", "grid_part", ["geom"], postgresql_using="gist")
    op.create_index("ix_grid_part_grid_id", "grid_part", ["grid_id"])
    op.execute("""
        INSERT INTO grid_part (street_code, grid_id, geom)
        SELECT g.street_code, g.id, ST_Subdivide(g.geom, 128)
        FROM grid g JOIN generation n ON n.id = g.generation_id WHERE n.active""")


def downgrade() -> None:
    op.drop_table("grid_part")
