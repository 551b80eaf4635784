"""Geolocation on PostGIS: grids, boundaries, holes, coverage, coordinate systems."""

from __future__ import annotations

import math

import numpy as np
import pytest
from shapely import Point, box
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.crs import from_wgs84
from geo.errors import InvalidInput
from geo.locate import locate, to_lonlat
from geo.locator import Locator, registry_version
from geo.settings import Settings
from tests.factories import (
    make_building,
    make_community,
    make_generation,
    make_grid,
    make_street,
)


def grid_points(session: Session, limit: int = 20) -> list[tuple[str, str, float, float]]:
    return [tuple(row) for row in session.execute(text("""
        SELECT g.code, c.code, ST_X(p), ST_Y(p) FROM grid g
        JOIN community c ON c.id = g.community_id JOIN generation n ON n.id = g.generation_id,
        LATERAL ST_PointOnSurface(g.geom) p
        WHERE n.active ORDER BY g.code LIMIT :limit"""), {"limit": limit})]


def test_points_land_in_their_grid_community_and_street(session: Session,
                                                        settings: Settings) -> None:
    for grid_code, community_code, lon, lat in grid_points(session):
        found = locate(session, lon, lat, settings)
        assert found.grid is not None and found.grid.code == grid_code
        assert found.community is not None and found.community.code == community_code
        assert found.street is not None and found.street.name == "北干街道"
        assert found.generation == 1 and not found.outside_coverage
        assert found.officer


def shared_vertices(session: Session, grids: int) -> list[tuple[float, float, list[str]]]:
    """Vertices that exactly ``grids`` active grids have in common."""
    rows = session.execute(text("""
        SELECT ST_X(d.geom), ST_Y(d.geom), array_agg(DISTINCT g.code ORDER BY g.code)
        FROM grid g JOIN generation n ON n.id = g.generation_id,
        LATERAL ST_DumpPoints(g.geom) d
        WHERE n.active GROUP BY 1, 2 HAVING count(DISTINCT g.code) = :grids LIMIT 20"""),
                           {"grids": grids}).all()
    assert rows, f"the demo has no vertex shared by {grids} grids"
    return [(x, y, list(codes)) for x, y, codes in rows]


@pytest.mark.parametrize("grids", [2, 3])
def test_a_shared_vertex_belongs_to_the_lowest_code(session: Session, settings: Settings,
                                                     grids: int) -> None:
    for lon, lat, codes in shared_vertices(session, grids):
        found = locate(session, lon, lat, settings)
        assert found.grid is not None and found.grid.code == min(codes)
        assert found.on_boundary and not found.outside_coverage


def test_a_point_on_a_shared_edge_belongs_to_the_lowest_code(session: Session,
                                                             settings: Settings) -> None:
    street = make_street(session, shape=box(120.5, 30.5, 120.52, 30.51))
    generation = make_generation(session, street)
    community = make_community(session, generation, shape=box(120.5, 30.5, 120.52, 30.51))
    make_grid(session, community, shape=box(120.51, 30.5, 120.52, 30.51), code="G-east")
    make_grid(session, community, shape=box(120.5, 30.5, 120.51, 30.51), code="G-west")
    found = locate(session, 120.51, 30.505, settings)
    assert found.grid is not None and found.grid.code == "G-east"
    assert found.on_boundary


def test_holes(session: Session, settings: Settings) -> None:
    street = make_street(session, shape=box(120.5, 30.5, 120.53, 30.51))
    generation = make_generation(session, street)
    community = make_community(session, generation, shape=box(120.5, 30.5, 120.53, 30.51))
    ring = box(120.5, 30.5, 120.51, 30.51).difference(box(120.504, 30.504, 120.506, 30.506))
    make_grid(session, community, shape=ring, code="ring")
    make_grid(session, community, shape=box(120.504, 30.504, 120.506, 30.506), code="island")
    empty = box(120.52, 30.5, 120.53, 30.51).difference(box(120.524, 30.504, 120.526, 30.506))
    make_grid(session, community, shape=empty, code="donut")
    island = locate(session, 120.505, 30.505, settings)
    assert island.grid is not None and island.grid.code == "island"
    assert not island.on_boundary
    in_empty_hole = locate(session, 120.525, 30.505, settings)
    assert in_empty_hole.outside_coverage
    assert in_empty_hole.grid is not None and in_empty_hole.grid.code == "donut"
    assert in_empty_hole.distance_m == pytest.approx(95.9, abs=1.0)


def test_outside_coverage_within_and_beyond_the_cap(session: Session,
                                                    settings: Settings) -> None:
    east_lon, lat = session.execute(text("""
        SELECT ST_XMax(geom), (ST_YMin(geom) + ST_YMax(geom)) / 2 FROM street
        WHERE street_code = '330109002'""")).one()
    edge = session.execute(text("""
        SELECT ST_X(p), ST_Y(p) FROM street,
        LATERAL ST_ClosestPoint(geom, ST_SetSRID(ST_MakePoint(:lon, :lat), 4326)) p
        WHERE street_code = '330109002'"""), {"lon": east_lon + 0.01, "lat": lat}).one()
    metres_per_degree = 111_320 * 0.8646
    near = locate(session, edge[0] + 100 / metres_per_degree, edge[1], settings)
    assert near.outside_coverage and near.grid is not None
    assert near.distance_m is not None and 60 < near.distance_m <= 120
    far = locate(session, edge[0] + 1000 / metres_per_degree, edge[1], settings)
    assert not far.covered and far.grid is None and far.street is None


def test_a_point_inside_a_footprint_finds_that_building(session: Session,
                                                        settings: Settings) -> None:
    code, lon, lat = session.execute(text("""
        SELECT code, ST_X(ST_PointOnSurface(footprint)), ST_Y(ST_PointOnSurface(footprint))
        FROM building WHERE street_code = '330109002' ORDER BY code LIMIT 1""")).one()
    found = locate(session, lon, lat, settings)
    assert found.building is not None
    assert found.building.code == code and found.building.distance_m == 0


def test_the_nearest_building_is_found_within_its_radius_and_not_beyond(
        session: Session, settings: Settings) -> None:
    street = make_street(session, shape=box(120.5, 30.5, 120.51, 30.51))
    make_building(session, street, shape=box(120.503, 30.503, 120.5035, 30.5035), code="B1")
    metres_per_degree = 111_320 * math.cos(math.radians(30.50325))
    assert settings.building_radius_m == 30  # GRIDMAP_BUILDING_RADIUS_M, the README's 30 m
    near = locate(session, 120.5035 + 20 / metres_per_degree, 30.50325, settings)
    assert near.building is not None and near.building.code == "B1"
    assert near.building.distance_m == pytest.approx(20, abs=1.0)
    far_lon = 120.5035 + 40 / metres_per_degree
    assert locate(session, far_lon, 30.50325, settings).building is None
    wider = settings.model_copy(update={"building_radius_m": 50.0})
    found = locate(session, far_lon, 30.50325, wider).building
    assert found is not None and found.code == "B1"
    in_memory = Locator.load(session, settings, registry_version(session))
    assert [found.building and found.building.code for found in in_memory.locate(
        np.array([120.5035 + 20 / metres_per_degree, far_lon]), np.array([30.50325] * 2))] \
        == ["B1", None]


def test_gcj02_point_lands_in_the_wrong_community_unless_declared(
        session: Session, settings: Settings) -> None:
    checked = 0
    for _, community_code, lon, lat in grid_points(session, limit=400):
        gcj_lon, gcj_lat = from_wgs84(lon, lat, "gcj02")
        as_wgs84 = locate(session, gcj_lon, gcj_lat, settings)
        if as_wgs84.community is None or as_wgs84.community.code == community_code:
            continue
        wgs = to_lonlat(gcj_lon, gcj_lat, "gcj02")
        declared = locate(session, float(wgs[0][0]), float(wgs[1][0]), settings)
        assert declared.community is not None and declared.community.code == community_code
        checked += 1
    assert checked >= 10


@pytest.mark.parametrize(("lon", "lat", "field", "says"), [
    (30.18, 120.27, "lon", "swapped"),
    (float("nan"), 30.18, "lon", "finite"),
    (120.27, float("inf"), "lat", "finite"),
    (120.27, 95.0, "lat", "latitude"),
    (181.0, 30.18, "lon", "longitude"),
])
def test_bad_coordinates_are_refused(lon: float, lat: float, field: str, says: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        to_lonlat(lon, lat, "wgs84")
    assert refused.value.field == field
    assert says in refused.value.detail + (refused.value.fix or "")


def test_a_point_far_from_china_is_simply_not_covered(session: Session,
                                                      settings: Settings) -> None:
    lon, lat = to_lonlat(-0.1276, 51.5072, "wgs84")
    assert not locate(session, float(lon[0]), float(lat[0]), settings).covered


def test_locate_each_crs_agrees(session: Session, settings: Settings) -> None:
    _, _, lon, lat = grid_points(session, limit=1)[0]
    expected = locate(session, lon, lat, settings)
    for crs in ("wgs84", "cgcs2000", "gcj02", "bd09", "EPSG:4549"):
        x, y = from_wgs84(lon, lat, crs)
        wgs_lon, wgs_lat = to_lonlat(x, y, crs)
        assert Point(wgs_lon[0], wgs_lat[0]).distance(Point(lon, lat)) < 1e-7
        assert locate(session, float(wgs_lon[0]), float(wgs_lat[0]), settings).grid == \
            expected.grid
