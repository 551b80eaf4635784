"""Point → street, community, grid and building, answered by PostGIS.

The rules, shared with the in-memory bulk engine (``geo.locate_index``):

* A grid *covers* a point inside it or on its boundary (``ST_Covers``). A point covered by
  several grids (on a shared edge, or a vertex where three meet) belongs to the grid with
  the lowest code.
* A point no grid covers takes the nearest grid within ``grid_radius_m`` and is flagged
  ``outside_coverage`` with its distance; beyond that radius it is not covered, which is an
  answer (200, empty, ``covered: false``), not an error.
* ``on_boundary``: the point is covered and within ``boundary_tolerance_m`` of its grid's
  boundary.
* Building: the footprint covering the point (lowest code if several), else the nearest
  within ``building_radius_m``.

Distances are planar metres in ``metric_crs`` (EPSG:4549 around Hangzhou). Lookups probe
``grid_part``, the subdivided copies of the active grids, of the streets near the point only.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from numpy.typing import ArrayLike
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.crs import (
    CRSKind,
    InputCRS,
    bd09_to_wgs84,
    gcj02_to_wgs84,
    in_china_bbox,
    parse_crs,
    to_wgs84,
)
from geo.crs_offsets import CHINA_BBOX
from geo.errors import InvalidInput
from geo.settings import Settings

METRES_PER_DEGREE = 111_320.0


@dataclass(frozen=True)
class Area:
    code: str
    name: str


@dataclass(frozen=True)
class Building:
    code: str
    name: str
    address: str | None
    distance_m: float


@dataclass(frozen=True)
class Location:
    """Where a WGS84 point lies."""

    lon: float
    lat: float
    street: Area | None = None
    community: Area | None = None
    grid: Area | None = None
    officer: str | None = None
    building: Building | None = None
    generation: int | None = None
    on_boundary: bool = False
    outside_coverage: bool = False
    distance_m: float | None = None

    @property
    def covered(self) -> bool:
        return self.grid is not None


def to_lonlat(x: ArrayLike, y: ArrayLike, crs: str) -> tuple[np.ndarray, np.ndarray]:
    """Validate caller coordinates in ``crs`` and convert them to WGS84 arrays.

    Refuses non-finite values, lon/lat pairs that look swapped (outside China as given,
    inside it the other way round), and degrees out of range (``field`` names the axis).
    """
    xs = np.atleast_1d(np.asarray(x, dtype=np.float64))
    ys = np.atleast_1d(np.asarray(y, dtype=np.float64))
    for name, values in (("lon", xs), ("lat", ys)):
        bad = np.flatnonzero(~np.isfinite(values))
        if bad.size:
            raise InvalidInput(f"{name} must be a finite number (row {bad[0]}: {values[bad[0]]})",
                               field=name, fix="send decimal degrees, e.g. lon=120.27&lat=30.18")
    input_crs = parse_crs(crs)
    if input_crs.is_lonlat:
        swapped = ~in_china_bbox(xs, ys) & in_china_bbox(ys, xs)
        if swapped.any():
            row = int(np.flatnonzero(swapped)[0])
            raise InvalidInput(f"lon={xs[row]}, lat={ys[row]} looks swapped: that pair is not "
                               "in China, the other way round it is", field="lon",
                               fix="send longitude first (about 73-135 in China), then latitude")
        for name, axis, values, limit in (("lon", "longitude", xs, 180.0),
                                          ("lat", "latitude", ys, 90.0)):
            outside = np.flatnonzero(np.abs(values) > limit)
            if outside.size:
                raise InvalidInput(f"{name}={values[outside[0]]} is not a {axis}: it must "
                                   f"be within -{limit:g}..{limit:g}", field=name,
                                   fix="send decimal degrees, longitude first; for projected "
                                   "coordinates name their EPSG code as the crs")
    lon, lat = to_wgs84(xs, ys, input_crs, field="lon")
    return np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64)


def point_to_lonlat(x: float, y: float, crs: str) -> tuple[float, float]:
    """``to_lonlat`` for one point, without numpy: the API's hot path."""
    for name, value in (("lon", x), ("lat", y)):
        if not math.isfinite(value):
            raise InvalidInput(f"{name} must be a finite number, not {value}", field=name,
                               fix="send decimal degrees, e.g. lon=120.27&lat=30.18")
    input_crs = _cached_crs(crs)
    if not input_crs.is_lonlat or input_crs.kind not in FAST_KINDS:
        lon, lat = to_lonlat(x, y, crs)
        return float(lon[0]), float(lat[0])
    if not _in_china(x, y) and _in_china(y, x):
        raise InvalidInput(f"lon={x}, lat={y} looks swapped: that pair is not in China, the "
                           "other way round it is", field="lon",
                           fix="send longitude first (about 73-135 in China), then latitude")
    if not (-180.0 <= x <= 180.0 and -90.0 <= y <= 90.0):
        lon, lat = to_lonlat(x, y, crs)  # raises the full message
    return FAST_KINDS[input_crs.kind](x, y)


def _in_china(lon: float, lat: float) -> bool:
    west, south, east, north = CHINA_BBOX
    return west <= lon <= east and south <= lat <= north


@lru_cache(maxsize=64)
def _cached_crs(crs: str) -> InputCRS:
    return parse_crs(crs)


FAST_KINDS: dict[CRSKind, Callable[[float, float], tuple[float, float]]] = {
    CRSKind.WGS84: lambda lon, lat: (lon, lat),
    CRSKind.CGCS2000: lambda lon, lat: (lon, lat),
    CRSKind.GCJ02: gcj02_to_wgs84,
    CRSKind.BD09: bd09_to_wgs84,
}


def locate(session: Session, lon: float, lat: float, settings: Settings) -> Location:
    """Where one WGS84 point lies."""
    return locate_many(session, np.array([lon]), np.array([lat]), settings)[0]


def locate_many(session: Session, lon: np.ndarray, lat: np.ndarray,
                settings: Settings) -> list[Location]:
    """Where each WGS84 point lies, in order, in one query."""
    metric = parse_crs(settings.metric_crs).epsg or 4326
    rows = session.execute(text(LOCATE_SQL.replace(":metric", str(int(metric)))), {
        "lons": lon.tolist(), "lats": lat.tolist(), "grid_radius": settings.grid_radius_m,
        "building_radius": settings.building_radius_m,
        "tolerance": settings.boundary_tolerance_m,
        "grid_degrees": _degrees(settings.grid_radius_m, lat),
        "building_degrees": _degrees(settings.building_radius_m, lat)}).mappings().all()
    return [_location(row) for row in rows]


def _degrees(metres: float, lat: np.ndarray) -> float:
    """A search radius in degrees that covers ``metres`` at every latitude in ``lat``."""
    highest = float(np.max(np.abs(lat))) if lat.size else 0.0
    return metres / (METRES_PER_DEGREE * math.cos(math.radians(min(highest + 1.0, 89.0))))


def _location(row: object) -> Location:
    r = dict(row)  # type: ignore[call-overload]
    street = Area(r["street_code"], r["street_name"]) if r["grid_code"] else None
    building = None
    if r["building_code"]:
        building = Building(r["building_code"], r["building_name"], r["building_address"],
                            round(float(r["building_distance"]), 2))
    distance = r["grid_distance"]
    return Location(
        lon=r["lon"], lat=r["lat"], street=street,
        community=Area(r["community_code"], r["community_name"]) if r["grid_code"] else None,
        grid=Area(r["grid_code"], r["grid_name"]) if r["grid_code"] else None,
        officer=r["officer_name"], building=building, generation=r["generation"],
        on_boundary=bool(r["on_boundary"]), outside_coverage=r["outside_coverage"],
        distance_m=None if distance is None else round(float(distance), 2))


LOCATE_SQL = """
WITH point AS (
    SELECT ord, lon, lat, ST_SetSRID(ST_MakePoint(lon, lat), 4326) AS geom
    FROM unnest(CAST(:lons AS float8[]), CAST(:lats AS float8[])) WITH ORDINALITY
         AS t(lon, lat, ord)
), streets AS (
    SELECT coalesce(array_agg(s.street_code), '{}') AS codes FROM street s
    WHERE EXISTS (SELECT 1 FROM point p WHERE ST_DWithin(s.geom, p.geom, :grid_degrees))
)
SELECT p.ord, p.lon, p.lat, g.code AS grid_code, g.name AS grid_name,
       c.code AS community_code, c.name AS community_name,
       s.street_code, s.name AS street_name, o.name AS officer_name, n.number AS generation,
       covering.grid_id IS NULL AND g.id IS NOT NULL AS outside_coverage,
       CASE WHEN covering.grid_id IS NULL THEN nearest.distance ELSE 0 END AS grid_distance,
       covering.grid_id IS NOT NULL AND ST_Distance(
           ST_Transform(ST_Boundary(g.geom), :metric), ST_Transform(p.geom, :metric))
           <= :tolerance AS on_boundary,
       b.code AS building_code, b.name AS building_name, b.address AS building_address,
       b.distance AS building_distance
FROM point p CROSS JOIN streets
LEFT JOIN LATERAL (
    SELECT gp.grid_id FROM grid_part gp JOIN grid g ON g.id = gp.grid_id
    WHERE gp.street_code = ANY(streets.codes) AND ST_Covers(gp.geom, p.geom)
    ORDER BY g.code COLLATE "C" LIMIT 1
) covering ON true
LEFT JOIN LATERAL (
    SELECT g.id AS grid_id, ST_Distance(ST_Transform(g.geom, :metric),
                                        ST_Transform(p.geom, :metric)) AS distance
    FROM grid g JOIN generation n ON n.id = g.generation_id
    WHERE covering.grid_id IS NULL AND n.active AND n.street_code = ANY(streets.codes)
      AND ST_DWithin(g.geom, p.geom, :grid_degrees)
    ORDER BY distance, g.code COLLATE "C" LIMIT 1
) nearest ON nearest.distance <= :grid_radius
LEFT JOIN grid g ON g.id = coalesce(covering.grid_id, nearest.grid_id)
LEFT JOIN community c ON c.id = g.community_id
LEFT JOIN street s ON s.street_code = g.street_code
LEFT JOIN generation n ON n.id = g.generation_id
LEFT JOIN officer o ON o.id = g.officer_id
LEFT JOIN LATERAL (
    SELECT b.code, b.name, b.address,
           ST_Distance(ST_Transform(b.footprint, :metric),
                       ST_Transform(p.geom, :metric)) AS distance
    FROM building b
    WHERE b.street_code = ANY(streets.codes)
      AND ST_DWithin(b.footprint, p.geom, :building_degrees)
    ORDER BY NOT ST_Covers(b.footprint, p.geom), distance, b.code COLLATE "C" LIMIT 1
) b ON b.distance <= :building_radius
ORDER BY p.ord
"""
