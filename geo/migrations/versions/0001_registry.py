"""The spatial registry: street, generation, community, officer, grid, estate, building.

Revision ID: 0001
Revises:
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def multipolygon() -> Geometry:
    return Geometry("MULTIPOLYGON", srid=4326, spatial_index=False)


def street_code() -> sa.Column:
    return sa.Column("street_code", sa.String(9), sa.ForeignKey("street.street_code"),
                     nullable=False)


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    op.create_table(
        "street",
        sa.Column("street_code", sa.String(9), primary_key=True),
        sa.Column("name", sa.String, nullable=False),
        sa.Column("district_code", sa.String(6), nullable=False),
        sa.Column("geom", multipolygon()),
        sa.CheckConstraint("street_code ~ '^[0-9]{9}$'", name="street_code_9_digits"),
    )
    op.create_table(
        "generation",
        sa.Column("id", sa.Integer, primary_key=True),
        street_code(),
        sa.Column("number", sa.Integer, nullable=False),
        sa.Column("label", sa.String, nullable=False),
        sa.Column("source", sa.String),
        sa.Column("active", sa.Boolean, nullable=False, server_default=sa.text("false")),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.func.now()),
        sa.Column("activated_at", sa.DateTime(timezone=True)),
        sa.UniqueConstraint("street_code", "number"),
    )
    op.create_index("one_active_generation_per_street", "generation", ["street_code"],
                    unique=True, postgresql_where=sa.text("active"))
    op.create_table(
        "community",
        sa.Column("id", sa.Integer, primary_key=True),
        street_code(),
        sa.Column("generation_id", sa.Integer,
                  sa.ForeignKey("generation.id", ondelete="CASCADE"), nullable=False),
        sa.Column("code", sa.String(12), nullable=False),
        sa.Column("name", sa.String, nullable=False),
        sa.Column("kind", sa.String, nullable=False),
        sa.Column("geom", multipolygon(), nullable=False),
        sa.UniqueConstraint("generation_id", "code"),
        sa.CheckConstraint("code ~ '^[0-9]{12}$'", name="community_code_12_digits"),
        sa.CheckConstraint("kind IN ('社区', '村')", name="community_kind"),
    )
    op.create_table(
        "officer",
        sa.Column("id", sa.Integer, primary_key=True),
        street_code(),
        sa.Column("name", sa.String, nullable=False),
        sa.Column("phone", sa.String),
    )
    op.create_table(
        "grid",
        sa.Column("id", sa.Integer, primary_key=True),
        street_code(),
        sa.Column("generation_id", sa.Integer,
                  sa.ForeignKey("generation.id", ondelete="CASCADE"), nullable=False),
        sa.Column("community_id", sa.Integer,
                  sa.ForeignKey("community.id", ondelete="CASCADE"), nullable=False),
        sa.Column("code", sa.String(32), nullable=False),
        sa.Column("name", sa.String, nullable=False),
        sa.Column("officer_id", sa.Integer, sa.ForeignKey("officer.id")),
        sa.Column("geom", multipolygon(), nullable=False),
        sa.UniqueConstraint("generation_id", "code"),
    )
    op.create_table(
        "estate",
        sa.Column("id", sa.Integer, primary_key=True),
        street_code(),
        sa.Column("community_code", sa.String(12), nullable=False),
        sa.Column("code", sa.String(32), nullable=False),
        sa.Column("name", sa.String, nullable=False),
        sa.Column("property_company", sa.String),
        sa.Column("property_contact", sa.String),
        sa.Column("owners_committee", sa.String),
        sa.Column("geom", multipolygon(), nullable=False),
        sa.UniqueConstraint("street_code", "code"),
    )
    op.create_table(
        "building",
        sa.Column("id", sa.Integer, primary_key=True),
        street_code(),
        sa.Column("code", sa.String(32), nullable=False),
        sa.Column("name", sa.String, nullable=False),
        sa.Column("address", sa.String),
        sa.Column("use", sa.String(16), nullable=False),
        sa.Column("height_m", sa.Float),
        sa.Column("floors", sa.Integer),
        sa.Column("grid_id", sa.Integer, sa.ForeignKey("grid.id", ondelete="SET NULL")),
        sa.Column("estate_id", sa.Integer, sa.ForeignKey("estate.id", ondelete="SET NULL")),
        sa.Column("footprint", multipolygon(), nullable=False),
        sa.UniqueConstraint("street_code", "code"),
        sa.CheckConstraint("use IN ('residential', 'public', 'mixed')", name="building_use"),
        sa.CheckConstraint("height_m IS NULL OR height_m > 0", name="building_height_positive"),
        sa.CheckConstraint("floors IS NULL OR floors > 0", name="building_floors_positive"),
    )
    for table, column in [("street", "geom"), ("community", "geom"), ("grid", "geom"),
                          ("estate", "geom"), ("building", "footprint")]:
        op.create_index(f"ix_{table}_{column}", table, [column], postgresql_using="gist")
    for table, column in [("community", "street_code"), ("officer", "street_code"),
                          ("grid", "street_code"), ("grid", "community_id"),
                          ("grid", "officer_id"), ("estate", "community_code"),
                          ("building", "grid_id"), ("building", "estate_id")]:
        op.create_index(f"ix_{table}_{column}", table, [column])


def downgrade() -> None:
    for table in ["building", "estate", "grid", "officer", "community", "generation", "street"]:
        op.drop_table(table)
