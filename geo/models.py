"""The spatial registry: streets, boundary generations, communities, grids, officers, estates,
buildings.

Every table carries ``street_code``, the shard key should one database not be enough (Citus
distributes by it). Communities and grids belong to a boundary *generation*; one generation per
street is active and earlier ones stay queryable. Estates and buildings outlive generations:
a building points at the grid of the active generation and is re-assigned when another one is
activated.
"""

from __future__ import annotations

from datetime import datetime

from geoalchemy2 import Geometry, WKBElement
from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    String,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

SRID = 4326
COMMUNITY_KINDS = ("社区", "村")
BUILDING_USES = ("residential", "public", "mixed")


def multipolygon() -> Geometry:
    """A WGS84 MultiPolygon column; its GiST index is declared in ``__table_args__``."""
    return Geometry("MULTIPOLYGON", srid=SRID, spatial_index=False)


def gist(table: str, column: str = "geom") -> Index:
    return Index(f"ix_{table}_{column}", column, postgresql_using="gist")


class Base(DeclarativeBase):
    pass


class Street(Base):
    """A street (街道): the unit one gridmap deployment serves and the shard key."""

    __tablename__ = "street"
    __table_args__ = (CheckConstraint("street_code ~ '^[0-9]{9}$'", name="street_code_9_digits"),
                      gist("street"))

    street_code: Mapped[str] = mapped_column(String(9), primary_key=True)
    name: Mapped[str]
    district_code: Mapped[str] = mapped_column(String(6))
    geom: Mapped[WKBElement | None] = mapped_column(multipolygon())


class Generation(Base):
    """A version of a street's boundaries (communities and grids)."""

    __tablename__ = "generation"
    __table_args__ = (
        UniqueConstraint("street_code", "number"),
        Index("one_active_generation_per_street", "street_code", unique=True,
              postgresql_where=text("active")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    street_code: Mapped[str] = mapped_column(ForeignKey("street.street_code"))
    number: Mapped[int]
    label: Mapped[str]
    source: Mapped[str | None]
    active: Mapped[bool] = mapped_column(default=False, server_default=text("false"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True),
                                                 server_default=func.now())
    activated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Community(Base):
    """A village or community (村社), identified by its 12-digit statistical code."""

    __tablename__ = "community"
    __table_args__ = (
        UniqueConstraint("generation_id", "code"),
        CheckConstraint("code ~ '^[0-9]{12}$'", name="community_code_12_digits"),
        CheckConstraint(f"kind IN {COMMUNITY_KINDS}", name="community_kind"),
        gist("community"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    street_code: Mapped[str] = mapped_column(ForeignKey("street.street_code"), index=True)
    generation_id: Mapped[int] = mapped_column(ForeignKey("generation.id", ondelete="CASCADE"))
    code: Mapped[str] = mapped_column(String(12))
    name: Mapped[str]
    kind: Mapped[str]
    geom: Mapped[WKBElement] = mapped_column(multipolygon())


class Officer(Base):
    """A grid officer (网格员). Their phone is internal: it never appears in public output."""

    __tablename__ = "officer"

    id: Mapped[int] = mapped_column(primary_key=True)
    street_code: Mapped[str] = mapped_column(ForeignKey("street.street_code"), index=True)
    name: Mapped[str]
    phone: Mapped[str | None]


class Grid(Base):
    """A grid (网格): the smallest unit of governance; its officer owns what happens in it."""

    __tablename__ = "grid"
    __table_args__ = (UniqueConstraint("generation_id", "code"), gist("grid"))

    id: Mapped[int] = mapped_column(primary_key=True)
    street_code: Mapped[str] = mapped_column(ForeignKey("street.street_code"), index=True)
    generation_id: Mapped[int] = mapped_column(ForeignKey("generation.id", ondelete="CASCADE"))
    community_id: Mapped[int] = mapped_column(ForeignKey("community.id", ondelete="CASCADE"),
                                              index=True)
    code: Mapped[str] = mapped_column(String(32))
    name: Mapped[str]
    officer_id: Mapped[int | None] = mapped_column(ForeignKey("officer.id"), index=True)
    geom: Mapped[WKBElement] = mapped_column(multipolygon())


class GridPart(Base):
    """A piece of an active grid (ST_Subdivide): point lookups probe these small polygons
    instead of detailed boundaries. Rebuilt whenever a generation is activated."""

    __tablename__ = "grid_part"
    __table_args__ = (gist("grid_part"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    street_code: Mapped[str] = mapped_column(ForeignKey("street.street_code"))
    grid_id: Mapped[int] = mapped_column(ForeignKey("grid.id", ondelete="CASCADE"), index=True)
    geom: Mapped[WKBElement] = mapped_column(Geometry("POLYGON", srid=SRID, spatial_index=False))


class Estate(Base):
    """An estate (小区): a property-management area with its company and owners' committee."""

    __tablename__ = "estate"
    __table_args__ = (UniqueConstraint("street_code", "code"), gist("estate"))

    id: Mapped[int] = mapped_column(primary_key=True)
    street_code: Mapped[str] = mapped_column(ForeignKey("street.street_code"))
    community_code: Mapped[str] = mapped_column(String(12), index=True)
    code: Mapped[str] = mapped_column(String(32))
    name: Mapped[str]
    property_company: Mapped[str | None]
    property_contact: Mapped[str | None]
    owners_committee: Mapped[str | None]
    geom: Mapped[WKBElement] = mapped_column(multipolygon())


class Building(Base):
    """A building footprint with its use and height; high-rises carry a fire code later."""

    __tablename__ = "building"
    __table_args__ = (
        UniqueConstraint("street_code", "code"),
        CheckConstraint(f"use IN {BUILDING_USES}", name="building_use"),
        CheckConstraint("height_m IS NULL OR height_m > 0", name="building_height_positive"),
        CheckConstraint("floors IS NULL OR floors > 0", name="building_floors_positive"),
        ForeignKeyConstraint(["grid_id"], ["grid.id"], ondelete="SET NULL"),
        gist("building", "footprint"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    street_code: Mapped[str] = mapped_column(ForeignKey("street.street_code"))
    code: Mapped[str] = mapped_column(String(32))
    name: Mapped[str]
    address: Mapped[str | None]
    use: Mapped[str] = mapped_column(String(16))
    height_m: Mapped[float | None] = mapped_column(Float)
    floors: Mapped[int | None] = mapped_column(Integer)
    grid_id: Mapped[int | None] = mapped_column(index=True)
    estate_id: Mapped[int | None] = mapped_column(ForeignKey("estate.id", ondelete="SET NULL"),
                                                  index=True)
    footprint: Mapped[WKBElement] = mapped_column(multipolygon())


class RegistryVersion(Base):
    """Bumped whenever a street's boundaries or buildings change, so in-memory indexes
    (the API's locator) know to rebuild."""

    __tablename__ = "registry_version"

    street_code: Mapped[str] = mapped_column(ForeignKey("street.street_code"), primary_key=True)
    version: Mapped[int] = mapped_column(BigInteger, server_default=text("1"))
    changed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True),
                                                 server_default=func.now())


class Reassignment(Base):
    """A building (later: an open issue) that changed grid when a generation was activated."""

    __tablename__ = "reassignment"
    __table_args__ = (Index("ix_reassignment_generation", "street_code", "generation_id"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    street_code: Mapped[str] = mapped_column(ForeignKey("street.street_code"))
    generation_id: Mapped[int] = mapped_column(ForeignKey("generation.id", ondelete="CASCADE"))
    subject: Mapped[str] = mapped_column(String(16))
    subject_code: Mapped[str] = mapped_column(String(64))
    from_grid: Mapped[str | None] = mapped_column(String(32))
    to_grid: Mapped[str | None] = mapped_column(String(32))
    moved_at: Mapped[datetime] = mapped_column(DateTime(timezone=True),
                                               server_default=func.now())
