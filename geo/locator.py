"""In-memory geolocation for the API: the same answers as ``geo.locate`` without a query.

A ``Locator`` holds the active grids (``GridIndex``, shared with the bulk engine) and the
building footprints of every street, read from PostGIS once. ``LocatorCache`` keeps one per
process and rebuilds it when ``registry_version`` says boundaries or buildings changed,
checking at most every ``refresh_seconds``.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pyproj
import shapely
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.locate import Area, Building, Location
from geo.locate_footprints import Rings, nearest_footprint
from geo.locate_index import GridIndex
from geo.settings import Settings

logger = logging.getLogger(__name__)

GRIDS_SQL = """
    SELECT g.code, g.name, c.code AS community_code, c.name AS community_name,
           s.street_code, s.name AS street_name, o.name AS officer_name,
           n.number AS generation, ST_AsBinary(g.geom) AS geometry
    FROM grid g JOIN generation n ON n.id = g.generation_id AND n.active
    JOIN community c ON c.id = g.community_id JOIN street s ON s.street_code = g.street_code
    LEFT JOIN officer o ON o.id = g.officer_id ORDER BY g.code"""
BUILDINGS_SQL = """
    SELECT code, name, address, ST_AsBinary(footprint) AS geometry FROM building ORDER BY code"""
VERSION_SQL = "SELECT street_code, version FROM registry_version ORDER BY street_code"


class CellHash:
    """Which items may lie within ``reach`` degrees of a point: a uniform grid of cells, each
    listing the items whose bounding box, grown by the reach, touches it."""

    def __init__(self, bounds: np.ndarray, reach: tuple[float, float], cell: float) -> None:
        self.cell = cell
        self.west, self.south = bounds[:, 0].min() - reach[0], bounds[:, 1].min() - reach[1]
        x0, y0 = self._index(bounds[:, 0] - reach[0], bounds[:, 1] - reach[1])
        x1, y1 = self._index(bounds[:, 2] + reach[0], bounds[:, 3] + reach[1])
        self.nx = int(x1.max()) + 1
        spans = (x1 - x0 + 1) * (y1 - y0 + 1)
        item = np.repeat(np.arange(len(bounds)), spans)
        offset = np.arange(len(item)) - np.repeat(np.cumsum(spans) - spans, spans)
        width = np.repeat(x1 - x0 + 1, spans)
        cells = (np.repeat(y0, spans) + offset // width) * self.nx + np.repeat(x0, spans) \
            + offset % width
        order = np.argsort(cells, kind="stable")
        self.items = item[order]
        self.starts = np.searchsorted(cells[order], np.arange((int(y1.max()) + 1) * self.nx + 1))

    def _index(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return (np.floor((x - self.west) / self.cell).astype(np.int64),
                np.floor((y - self.south) / self.cell).astype(np.int64))

    def candidates(self, lon: float, lat: float) -> np.ndarray:
        ix = math.floor((lon - self.west) / self.cell)
        iy = math.floor((lat - self.south) / self.cell)
        cell = iy * self.nx + ix
        if ix < 0 or ix >= self.nx or iy < 0 or cell + 1 >= len(self.starts):
            return self.items[:0]
        return self.items[self.starts[cell]:self.starts[cell + 1]]


class BuildingIndex:
    """Footprints: the one covering a point (lowest code), else the nearest within a radius,
    measured in metres in the metric CRS."""

    def __init__(self, frame: gpd.GeoDataFrame, *, radius_m: float, metric_crs: str) -> None:
        self.frame = frame.reset_index(drop=True)
        self.radius_m = radius_m
        self._to_metric = pyproj.Transformer.from_crs(4326, metric_crs, always_xy=True)
        footprints = np.asarray(self.frame.geometry.values)
        self._footprints = footprints
        self._tree = shapely.STRtree(footprints)
        metric = shapely.transform(footprints, self._project)
        self._metric_tree = shapely.STRtree(metric)
        self._metric = metric
        self._code_rank = np.argsort(np.argsort(self.frame["code"].to_numpy(dtype=str)))
        reach = self._degrees(float(np.abs(shapely.bounds(footprints)[:, 3]).max())) \
            if len(footprints) else 0.0
        self._cells = CellHash(shapely.bounds(footprints).reshape(-1, 4), (reach, reach),
                               cell=max(reach, 1e-4))
        self._rings = Rings.of(footprints, metric)
        if len(footprints):  # compile (or load) the kernel now, not on the first request
            self.locate_point(*shapely.get_coordinates(footprints[0])[0])

    def _project(self, xy: np.ndarray) -> np.ndarray:
        x, y = self._to_metric.transform(xy[:, 0], xy[:, 1])
        return np.column_stack([x, y])

    def locate(self, lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Row index of each point's building (-1 if none) and its distance in metres."""
        row = np.full(len(lon), -1, dtype=np.int64)
        distance = np.full(len(lon), np.nan)
        if not len(self._metric):
            return row, distance
        point, covering = self._tree.query(shapely.points(lon, lat), predicate="intersects")
        self._pick(point, covering, np.zeros(len(point)), row, distance)
        missing = np.flatnonzero(row < 0)
        if missing.size:
            x, y = self._to_metric.transform(lon[missing], lat[missing])
            metric_points = shapely.points(x, y)
            near, candidate = self._metric_tree.query(metric_points, predicate="dwithin",
                                                      distance=self.radius_m)
            metres = shapely.distance(self._metric[candidate], metric_points[near])
            self._pick(missing[near], candidate, metres, row, distance)
        return row, distance

    def locate_point(self, lon: float, lat: float) -> tuple[int, float]:
        """``locate`` for one point, without the array machinery (the API's hot path): one
        numba call (:mod:`geo.locate_footprints`), GEOS when the point is too near an edge."""
        near = self._cells.candidates(lon, lat)
        if not near.size:
            return -1, math.nan
        x, y = self._to_metric.transform(lon, lat)
        r = self._rings
        row, metres, unsure = nearest_footprint(lon, lat, x, y, near, self._code_rank,
                                                r.fp_start, r.ring_start, r.degrees, r.metric,
                                                self.radius_m)
        if unsure:
            return self._locate_point_geos(lon, lat, near)
        return int(row), float(metres)

    def _locate_point_geos(self, lon: float, lat: float, near: np.ndarray) -> tuple[int, float]:
        covering = near[shapely.intersects_xy(self._footprints[near], lon, lat)]
        if covering.size:
            return int(covering[np.argmin(self._code_rank[covering])]), 0.0
        metric_point = shapely.Point(*self._to_metric.transform(lon, lat))
        metres = shapely.distance(self._metric[near], metric_point)
        best = np.lexsort((self._code_rank[near], metres))[0]
        if metres[best] > self.radius_m:
            return -1, math.nan
        return int(near[best]), float(metres[best])

    def _degrees(self, lat: float) -> float:
        """A reach in degrees that holds ``radius_m`` at latitudes up to ``lat``, with room."""
        return 1.5 * self.radius_m / (110_000.0 * math.cos(math.radians(min(abs(lat), 85.0))))

    def _pick(self, point: np.ndarray, candidate: np.ndarray, metres: np.ndarray,
              row: np.ndarray, distance: np.ndarray) -> None:
        """For each point, the candidate with the smallest distance, then the lowest code."""
        if not len(point):
            return
        order = np.lexsort((self._code_rank[candidate], metres, point))
        first = order[np.r_[True, point[order][1:] != point[order][:-1]]]
        row[point[first]] = candidate[first]
        distance[point[first]] = metres[first]


@dataclass(frozen=True)
class GridPlace:
    """What a location inherits from its grid."""

    street: Area
    community: Area
    grid: Area
    officer: str | None
    generation: int


@dataclass(frozen=True)
class Locator:
    """Grids and buildings in memory, answering like ``geo.locate.locate_many``."""

    version: tuple[tuple[str, int], ...]
    grids: GridIndex
    places: list[GridPlace]
    buildings: BuildingIndex
    building_info: list[tuple[str, str, str | None]]

    @classmethod
    def load(cls, session: Session, settings: Settings,
             version: tuple[tuple[str, int], ...]) -> Locator:
        """Read the active grids and all footprints; ``version`` is what they reflect."""
        grids = _frame(session, GRIDS_SQL)
        buildings = _frame(session, BUILDINGS_SQL)
        index = GridIndex.build(grids, boundary_tolerance_m=settings.boundary_tolerance_m,
                                outside_radius_m=settings.grid_radius_m,
                                metric_crs=settings.metric_crs)
        places = [GridPlace(Area(g.street_code, g.street_name),
                            Area(g.community_code, g.community_name), Area(g.code, g.name),
                            g.officer_name, int(g.generation))
                  for g in index.grids.itertuples()]
        info = list(zip(buildings["code"], buildings["name"], buildings["address"],
                        strict=True)) if len(buildings) else []
        return cls(version, index, places,
                   BuildingIndex(buildings, radius_m=settings.building_radius_m,
                                 metric_crs=settings.metric_crs), info)

    def locate(self, lon: np.ndarray, lat: np.ndarray) -> list[Location]:
        """Where each WGS84 point lies, in order."""
        found = self.grids.locate(lon, lat)
        building_row, building_distance = self.buildings.locate(lon, lat)
        return [self._location(float(lon[i]), float(lat[i]), int(found.grid[i]),
                               bool(found.on_boundary[i]), bool(found.outside_coverage[i]),
                               float(found.distance_m[i]), int(building_row[i]),
                               float(building_distance[i])) for i in range(len(lon))]

    def locate_point(self, lon: float, lat: float) -> Location:
        """Where one WGS84 point lies (the same answer as ``locate``, faster for one)."""
        grid, outside, distance, on_boundary = self.grids.locate_one(lon, lat)
        building_row, building_distance = self.buildings.locate_point(lon, lat)
        return self._location(lon, lat, grid, on_boundary, outside, distance, building_row,
                              building_distance)

    def _location(self, lon: float, lat: float, grid_row: int, on_boundary: bool,
                  outside: bool, distance: float, building_row: int,
                  building_distance: float) -> Location:
        building = None
        if building_row >= 0:
            code, name, address = self.building_info[building_row]
            building = Building(code, name, address, round(building_distance, 2))
        if grid_row < 0:
            return Location(lon=lon, lat=lat, building=building)
        place = self.places[grid_row]
        return Location(lon=lon, lat=lat, street=place.street, community=place.community,
                        grid=place.grid, officer=place.officer, building=building,
                        generation=place.generation, on_boundary=on_boundary,
                        outside_coverage=outside, distance_m=round(distance, 2))


class LocatorCache:
    """One ``Locator`` per process, rebuilt when the registry's version changes."""

    def __init__(self, settings: Settings, *, refresh_seconds: float = 1.0) -> None:
        self.settings = settings
        self.refresh_seconds = refresh_seconds
        self._locator: Locator | None = None
        self._checked = 0.0
        self._lock = threading.Lock()
        self._claim = threading.Lock()

    def claim_check(self) -> bool:
        """True for one caller per ``refresh_seconds``: that caller should ``refresh``."""
        with self._claim:
            now = time.monotonic()
            if self._locator is not None and now - self._checked < self.refresh_seconds:
                return False
            self._checked = now
            return True

    def warm(self, sessions: Callable[[], Session]) -> None:
        """Build the locator ahead of the first lookup; a failure waits for that lookup."""
        try:
            self.refresh(sessions)
        except Exception:
            logger.warning("could not build the locator at start-up", exc_info=True)

    def current(self) -> Locator | None:
        return self._locator

    def refresh(self, sessions: Callable[[], Session]) -> Locator:
        """Check the registry's version; rebuild the locator if it moved."""
        with self._lock, sessions() as session:
            version = registry_version(session)
            if self._locator is None or self._locator.version != version:
                started = time.perf_counter()
                self._locator = Locator.load(session, self.settings, version)
                logger.info("locator rebuilt for registry version %s in %.2f s", version,
                            time.perf_counter() - started)
            return self._locator


def registry_version(session: Session) -> tuple[tuple[str, int], ...]:
    """Every street's registry version: a change anywhere means a rebuild."""
    return tuple((str(code), int(number)) for code, number in session.execute(text(VERSION_SQL)))


def _frame(session: Session, sql: str) -> gpd.GeoDataFrame:
    rows = session.execute(text(sql)).mappings().all()
    columns = [key for key in (rows[0].keys() if rows else []) if key != "geometry"]
    geometry = shapely.from_wkb([bytes(row["geometry"]) for row in rows]) if rows else []
    return gpd.GeoDataFrame({c: [row[c] for row in rows] for c in columns}, geometry=geometry,
                            crs=4326)
