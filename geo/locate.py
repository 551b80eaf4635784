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


NOT_A_NUMBER = "lon/lat missing or not a finite number"
LON_RANGE = "lon out of range: a longitude is within -180..180"
LAT_RANGE = "lat out of range: a latitude is within -90..90"
SWAPPED = "lon/lat look swapped: that pair is not in China, the other way round it is"


def fix_for(error: str) -> str:
    """What to do about a row :func:`rows_to_lonlat` refused with ``error``."""
    if error == SWAPPED:
        return "send longitude first (about 73-135 in China), then latitude"
    return ("send finite decimal degrees, longitude first, e.g. lon=120.27&lat=30.18; for "
            "projected coordinates name their EPSG code as the crs")


def rows_to_lonlat(xs: np.ndarray, ys: np.ndarray,
                   crs: str | InputCRS) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Convert each row from ``crs`` to WGS84, with an error for each row that cannot be.

    Parameters
    ----------
    xs, ys : numpy.ndarray
        Float64 longitude/latitude (or easting/northing for a projected CRS); NaN where
        missing.
    crs : str or InputCRS
        Anything :func:`geo.crs.parse_crs` accepts.

    Returns
    -------
    lon, lat : numpy.ndarray
        WGS84 degrees; NaN in rows with an error.
    error : numpy.ndarray of object
        ``None`` for a usable row, else why it is not: missing or not finite, out of
        range, lon/lat swapped, or outside a projected CRS's area of use.
    """
    input_crs = parse_crs(crs)
    error = np.full(len(xs), None, dtype=object)
    error[~(np.isfinite(xs) & np.isfinite(ys))] = NOT_A_NUMBER
    if input_crs.is_lonlat:
        finite = ~error.astype(bool)
        error[finite & (np.abs(xs) > 180.0)] = LON_RANGE
        error[finite & (np.abs(ys) > 90.0)] = LAT_RANGE
        error[finite & ~in_china_bbox(xs, ys) & in_china_bbox(ys, xs)] = SWAPPED
    lon = np.full(len(xs), np.nan)
    lat = np.full(len(xs), np.nan)
    _convert(xs, ys, input_crs, np.flatnonzero(~error.astype(bool)), (lon, lat, error))
    return lon, lat, error


def _convert(xs: np.ndarray, ys: np.ndarray, crs: InputCRS, rows: np.ndarray,
             out: tuple[np.ndarray, np.ndarray, np.ndarray]) -> None:
    """Convert ``rows`` in one call; when some row fails (a point outside the CRS's area of
    use), halve and retry, so the good rows still convert in large vectorised calls. A few
    bad rows cost a few dozen calls; a file all in the wrong CRS costs two calls a row."""
    if not rows.size:
        return
    lon, lat, error = out
    try:
        lon[rows], lat[rows] = to_wgs84(xs[rows], ys[rows], crs)
    except InvalidInput:
        if rows.size == 1:
            error[rows[0]] = f"not a place in the area of use of {crs.name}"
            return
        half = rows.size // 2
        _convert(xs, ys, crs, rows[:half], out)
        _convert(xs, ys, crs, rows[half:], out)


def to_lonlat(x: ArrayLike, y: ArrayLike, crs: str) -> tuple[np.ndarray, np.ndarray]:
    """Validate caller coordinates in ``crs`` and convert them to WGS84 arrays, refusing the
    first row :func:`rows_to_lonlat` cannot convert (``field`` names the axis at fault)."""
    xs = np.atleast_1d(np.asarray(x, dtype=np.float64))
    ys = np.atleast_1d(np.asarray(y, dtype=np.float64))
    lon, lat, error = rows_to_lonlat(xs, ys, crs)
    bad = np.flatnonzero(error.astype(bool))
    if bad.size:
        row = int(bad[0])
        lat_at_fault = error[row] == LAT_RANGE or (error[row] == NOT_A_NUMBER
                                                   and math.isfinite(xs[row]))
        raise InvalidInput(f"{error[row]} (row {row}: lon={xs[row]}, lat={ys[row]})",
                           field="lat" if lat_at_fault else "lon", fix=fix_for(error[row]))
    return lon, lat


def point_to_lonlat(x: float, y: float, crs: str) -> tuple[float, float]:
    """``to_lonlat`` for one point, without numpy: the API's hot path. A point the fast
    checks doubt goes through ``to_lonlat``, which converts it or says what is wrong."""
    input_crs = _cached_crs(crs)
    if (input_crs.is_lonlat and input_crs.kind in FAST_KINDS
            and math.isfinite(x) and math.isfinite(y)
            and -180.0 <= x <= 180.0 and -90.0 <= y <= 90.0
            and (_in_china(x, y) or not _in_china(y, x))):
        return FAST_KINDS[input_crs.kind](x, y)
    lon, lat = to_lonlat(x, y, crs)
    return float(lon[0]), float(lat[0])


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
