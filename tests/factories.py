"""Plain factory functions for registry rows: ``make_grid(session, ...)`` and friends."""

from __future__ import annotations

from itertools import count

from geoalchemy2.shape import from_shape
from shapely import MultiPolygon, Polygon, box
from shapely.geometry.base import BaseGeometry
from sqlalchemy.orm import Session

from geo import registry
from geo.models import SRID, Building, Community, Generation, Grid, Street

_serial = count(1)


def multi(shape: BaseGeometry) -> object:
    polygon = shape if isinstance(shape, MultiPolygon) else MultiPolygon([shape])
    return from_shape(polygon, srid=SRID)


def make_street(session: Session, *, street_code: str = "330109999", name: str = "测试街道",
                shape: Polygon | None = None) -> Street:
    street = Street(street_code=street_code, name=name, district_code=street_code[:6],
                    geom=multi(shape or box(120.5, 30.5, 120.51, 30.51)))
    session.add(street)
    session.flush()
    return street


def make_generation(session: Session, street: Street, *, active: bool = True) -> Generation:
    generation = registry.create_generation(session, street_code=street.street_code,
                                            label="test")
    generation.active = active
    session.flush()
    return generation


def make_community(session: Session, generation: Generation, *, shape: Polygon,
                   code: str | None = None, name: str = "测试社区",
                   kind: str = "社区") -> Community:
    community = Community(street_code=generation.street_code, generation_id=generation.id,
                          code=code or f"{generation.street_code}{next(_serial):03d}",
                          name=name, kind=kind, geom=multi(shape))
    session.add(community)
    session.flush()
    return community


def make_grid(session: Session, community: Community, *, shape: BaseGeometry,
              code: str | None = None, name: str | None = None) -> Grid:
    code = code or f"{community.code}{next(_serial):03d}"
    grid = Grid(street_code=community.street_code, generation_id=community.generation_id,
                community_id=community.id, code=code, name=name or f"网格{code[-3:]}",
                geom=multi(shape))
    session.add(grid)
    session.flush()
    registry.refresh_grid_parts(session, community.street_code)
    return grid


def make_building(session: Session, street: Street, *, shape: Polygon,
                  code: str | None = None, height_m: float = 12.0) -> Building:
    building = Building(street_code=street.street_code,
                        code=code or f"{street.street_code}B{next(_serial):05d}",
                        name="测试楼", use="residential", height_m=height_m, floors=4,
                        footprint=multi(shape))
    session.add(building)
    session.flush()
    return building
