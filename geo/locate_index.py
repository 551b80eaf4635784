"""In-memory point → grid index: the PostGIS lookup's answers, vectorised, for millions of points.

Rules (the same as :mod:`geo.locate`, the PostGIS path):

1. **Covered.** A grid covers a point inside it or on its boundary (GEOS/PostGIS
   ``ST_Covers``, evaluated on the WGS84 coordinates). A point covered by several grids (on
   a shared edge, at a vertex where three grids meet, or where grids overlap) belongs to the
   grid with the **lowest code**, compared as strings by code point (PostgreSQL
   ``ORDER BY code COLLATE "C"``).
2. **Outside coverage.** A point no grid covers gets the nearest grid whose distance is at
   most ``outside_radius_m``, ties to the lowest code, with ``outside_coverage`` set and
   ``distance_m`` the distance; beyond the radius ``grid`` is -1 and ``distance_m`` NaN.
   The distance is planar, in ``metric_crs``: point and grid polygon transformed vertex by
   vertex with pyproj (``always_xy``), then GEOS distance
   (``ST_Distance(ST_Transform(g.geom, srid), ST_Transform(p, srid))``).
3. **on_boundary.** Covered, and the planar distance in ``metric_crs`` from the point to the
   boundary of its grid is at most ``boundary_tolerance_m``
   (``ST_Distance(ST_Transform(ST_Boundary(g.geom), srid), ST_Transform(p, srid))``).
4. **Bad input.** A non-finite longitude or latitude raises :class:`InvalidInput` naming the
   field and the first bad row; callers validate ranges and CRS before calling.

How: a raster of cells over the grids (about ``cells_per_grid`` cells in an average grid).
A cell whose box, buffered by the boundary tolerance, lies inside one grid is *pure*: its
points are answered by one array read. Every other cell keeps its candidate grids in code
order, each with the few edges near the cell and the parity of the farther edges that cross
the eastward ray of any of its points; a numba kernel runs the crossing test on them,
exactly (a point within floating-point error of an edge goes to GEOS), and measures the
on_boundary distance from the point's metric position interpolated on a lattice with a
known error bound (a distance within that bound of the tolerance is measured again with
pyproj and GEOS). Points no grid covers are answered by GEOS on an STRtree of the metric
polygons. Grid geometries must be valid (OGC): ``build`` refuses others.
"""

from __future__ import annotations

import logging
import math
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import geopandas as gpd
import numpy as np
import pyproj
import shapely
from numpy.typing import ArrayLike, NDArray

from geo import locate_index_build as b
from geo import locate_kernels as k
from geo.errors import InvalidInput

logger = logging.getLogger(__name__)

__all__ = ["GridIndex", "LocateResult"]

CHUNK = 1 << 16
"""Points per task when several threads share a lookup (they take tasks as they finish)."""


@dataclass(frozen=True, slots=True)
class LocateResult:
    """Where each point lies; every array has one entry per point, in input order."""

    grid: NDArray[np.int32]
    """Row in ``GridIndex.grids``; -1 when not covered and no grid is within the radius."""
    outside_coverage: NDArray[np.bool_]
    """No grid covers the point (``grid`` is then the nearest within the radius, or -1)."""
    distance_m: NDArray[np.float64]
    """0 when covered; metres to the nearest grid when outside; NaN when ``grid`` is -1."""
    on_boundary: NDArray[np.bool_]
    """Covered, and within the boundary tolerance of its grid's boundary."""

    def __len__(self) -> int:
        return int(self.grid.size)


class GridIndex:
    """Point → grid lookups over one set of grids (one generation); build with :meth:`build`."""

    def __init__(self, grids: gpd.GeoDataFrame, *, rings: b.Rings, lattice: b.Lattice,
                 raster: b.Raster, order: NDArray[np.int64], boundary_tolerance_m: float,
                 outside_radius_m: float, metric_crs: str, generation: int | None,
                 margin_m: float, cell_m: float, near_deg: float) -> None:
        self.grids = grids
        self.generation = generation
        self.boundary_tolerance_m = boundary_tolerance_m
        self.outside_radius_m = outside_radius_m
        self.metric_crs = metric_crs
        self._codes = np.asarray(grids["code"].to_numpy(), dtype=object)
        self._geoms = np.asarray(grids.geometry.values, dtype=object)
        self._metric_coords, self._offsets = rings.vm, rings.offsets
        self._lattice, self._raster = lattice, raster
        p = raster.params  # as Python numbers: locate_one reads them on every call
        self._pure_cell_params = (float(p[k.X0]), float(p[k.Y0]), float(p[k.INV_SX]),
                                  float(p[k.INV_SY]), int(p[k.NX]), int(p[k.NY]))
        self._rank = np.empty(order.size, np.int64)
        self._rank[order] = np.arange(order.size)
        self._margin_m = margin_m
        self._cell_m = cell_m
        self._near_deg = near_deg
        self._transformer = pyproj.Transformer.from_crs("EPSG:4326", metric_crs, always_xy=True)

    @classmethod
    def build(cls, grids: gpd.GeoDataFrame, *, boundary_tolerance_m: float = 5.0,
              outside_radius_m: float = 200.0, metric_crs: str = "EPSG:4549",
              generation: int | None = None, cells_per_grid: float = 512.0,
              max_cells: int = 1 << 25) -> GridIndex:
        """Index ``grids`` (``code`` str, Polygon/MultiPolygon geometry, EPSG:4326).

        Other columns stay in :attr:`grids`; result rows index it positionally.
        ``cells_per_grid`` sets the raster resolution (capped at ``max_cells`` cells).

        Raises
        ------
        InvalidInput
            No grids, a missing, non-string or duplicate code, or a geometry that is not
            a valid non-empty Polygon/MultiPolygon.
        """
        started = time.perf_counter()
        frame = _checked(grids)
        geoms = np.asarray(frame.geometry.values, dtype=object)
        order = np.argsort(np.asarray(frame["code"].to_numpy(), dtype=object), kind="stable")
        transformer = pyproj.Transformer.from_crs("EPSG:4326", metric_crs, always_xy=True)
        rings = b.flatten(geoms, transformer)
        west, south, east, north = (float(v) for v in shapely.total_bounds(geoms))
        bounds = (west, south, east, north)
        reach_m = outside_radius_m + rings.slack_m
        per_m = b.degrees_per_metre(transformer, bounds, 3e-5 * reach_m + 0.01)
        cell_m = _cell_size_m(geoms, bounds, per_m, cells_per_grid, max_cells)
        rp = b.raster_params(bounds, cell_m, reach_m, per_m)
        lattice = b.build_lattice(rp, transformer)
        near_m = boundary_tolerance_m + lattice.error_m + rings.slack_m
        raster = b.build_raster(rings, order, rp,
                                (near_m * per_m[0] + b.EPS_DEG, near_m * per_m[1] + b.EPS_DEG),
                                (reach_m * per_m[0], reach_m * per_m[1]))
        index = cls(frame, rings=rings, lattice=lattice, raster=raster, order=order,
                    boundary_tolerance_m=boundary_tolerance_m, outside_radius_m=outside_radius_m,
                    metric_crs=metric_crs, generation=generation, margin_m=lattice.error_m,
                    cell_m=cell_m, near_deg=near_m * math.hypot(*per_m))
        logger.info("grid index of %d grids (generation %s) built in %.2f s: %s", len(frame),
                    generation, time.perf_counter() - started, index.stats)
        return index

    @property
    def stats(self) -> dict[str, Any]:
        """Sizes of the index: cells, share of impure cells, bytes, interpolation error."""
        r = self._raster
        listed = r.blocks.size - r.impure_cells - 2 * r.candidate_count
        return {"cells": int(r.cells.size), "cell_m": round(self._cell_m, 2),
                "impure_share": round(r.impure_cells / r.cells.size, 4),
                "candidates_per_impure_cell": round(r.candidate_count / max(r.impure_cells, 1), 2),
                "edges_per_candidate": round(listed / max(r.candidate_count, 1), 2),
                "bytes": r.nbytes + self._lattice.nodes.nbytes + self._metric_coords.nbytes,
                "metric_error_m": self._margin_m}

    def codes(self, grid: ArrayLike) -> NDArray[np.object_]:
        """Codes of grid rows; ``None`` where the row is -1."""
        rows = np.asarray(grid)
        out = np.full(rows.shape, None, dtype=object)
        hit = rows >= 0
        out[hit] = self._codes[rows[hit]]
        return out

    def locate(self, lon: ArrayLike, lat: ArrayLike, *, threads: int | None = None) -> LocateResult:
        """Locate WGS84 points (float64 arrays of equal length) on ``threads`` threads
        (default: the CPUs this process may use).

        Raises
        ------
        InvalidInput
            Arrays of different shapes, or a non-finite value (``field`` is ``lon`` or
            ``lat``; the message names the first bad row).
        """
        lons = np.ascontiguousarray(lon, dtype=np.float64).reshape(-1)
        lats = np.ascontiguousarray(lat, dtype=np.float64).reshape(-1)
        if lons.shape != lats.shape:
            raise InvalidInput(f"lon has {lons.size} values but lat has {lats.size}",
                               field="lat", fix="send one latitude per longitude")
        n = lons.size
        result = LocateResult(np.empty(n, np.int32), np.empty(n, np.bool_),
                              np.empty(n, np.float64), np.empty(n, np.bool_))
        status = np.empty(n, np.uint8)
        self._run_kernel(lons, lats, result, status, threads or len(os.sched_getaffinity(0)))
        todo = k.unfinished(status)
        if todo.size:
            self._finish(lons, lats, todo, status[todo], result)
        return result

    def locate_one(self, lon: float, lat: float) -> tuple[int, bool, float, bool]:
        """``locate`` for one point as ``(grid, outside_coverage, distance_m, on_boundary)``,
        skipping the batch set-up (the API's hot path); rare points go the batch way.

        A point in a pure cell is answered here in Python, as the kernel's ``_gather`` and
        ``_classify`` would (the same float operations): calling the kernel costs more than
        the lookup. Other points go through the kernel."""
        x0, y0, inv_x, inv_y, nx, ny = self._pure_cell_params
        fx, fy = (lon - x0) * inv_x, (lat - y0) * inv_y
        if 0.0 <= fx < nx and 0.0 <= fy < ny:
            owner = int(self._raster.cells[int(fy) * nx + int(fx)])
            if owner >= 0:
                return owner, False, 0.0, False
        lons, lats = np.array([lon]), np.array([lat])
        result = LocateResult(np.empty(1, np.int32), np.empty(1, np.bool_),
                              np.empty(1, np.float64), np.empty(1, np.bool_))
        status = np.empty(1, np.uint8)
        self._run_kernel(lons, lats, result, status, 1)
        if status[0] != k.DONE:
            result = self.locate(lons, lats)
        return (int(result.grid[0]), bool(result.outside_coverage[0]),
                float(result.distance_m[0]), bool(result.on_boundary[0]))

    def _run_kernel(self, lon: NDArray[np.float64], lat: NDArray[np.float64],
                    result: LocateResult, status: NDArray[np.uint8], threads: int) -> None:
        r, lattice = self._raster, self._lattice
        tol, margin = self.boundary_tolerance_m, self._margin_m
        lo2 = (tol - margin) ** 2 if tol > margin else -1.0

        def run(lo: int) -> None:
            k.locate_points(lo, min(lo + CHUNK, lon.size), lon, lat, r.cells, r.params,
                            r.blocks, r.edges, lattice.params, lattice.nodes,
                            self._near_deg**2, lo2, (tol + margin) ** 2, result.grid,
                            result.outside_coverage,
                            result.distance_m, result.on_boundary, status)

        starts = range(0, lon.size, CHUNK)
        if threads <= 1 or len(starts) <= 1:
            for lo in starts:
                run(lo)
            return
        with ThreadPoolExecutor(min(threads, len(starts))) as pool:
            list(pool.map(run, starts))

    def _finish(self, lon: NDArray[np.float64], lat: NDArray[np.float64],
                todo: NDArray[np.intp], status: NDArray[np.uint8], result: LocateResult) -> None:
        """Settle the few points the kernel left to GEOS: see ``locate_kernels`` statuses."""
        bad = todo[status == k.BAD]
        if bad.size:
            row = int(bad[0])
            field = "lat" if np.isfinite(lon[row]) else "lon"
            value = lat[row] if field == "lat" else lon[row]
            raise InvalidInput(f"{field} must be a finite number ({bad.size} bad; first at "
                               f"row {row}: {value})", field=field,
                               fix="drop or repair rows without coordinates before locating")
        outside = todo[status == k.OUTSIDE]
        ambiguous = todo[status == k.AMBIGUOUS]
        if ambiguous.size:
            outside = np.sort(np.concatenate([outside, self._settle_covers(lon, lat, ambiguous,
                                                                           result)]))
        borderline = todo[status == k.BORDERLINE]
        if borderline.size:
            result.on_boundary[borderline] = self._on_boundary(lon[borderline], lat[borderline],
                                                               result.grid[borderline])
        if outside.size:
            self._nearest(lon[outside], lat[outside], outside, result)

    def _settle_covers(self, lon: NDArray[np.float64], lat: NDArray[np.float64],
                       rows: NDArray[np.intp], result: LocateResult) -> NDArray[np.intp]:
        """Cover test by GEOS for points too close to an edge; returns the uncovered rows."""
        p = self._raster.params
        col = ((lon[rows] - p[k.X0]) * p[k.INV_SX]).astype(np.int64)
        row = ((lat[rows] - p[k.Y0]) * p[k.INV_SY]).astype(np.int64)
        point, cand = self._raster.candidates(row * int(p[k.NX]) + col)
        points = shapely.points(lon[rows], lat[rows])
        hit = np.flatnonzero(shapely.covers(self._geoms[cand], points[point]))
        found, first = np.unique(point[hit], return_index=True)  # candidates in code order
        covered = rows[found]
        result.grid[covered] = cand[hit[first]]
        result.outside_coverage[covered] = False
        result.distance_m[covered] = 0.0
        result.on_boundary[covered] = self._on_boundary(lon[covered], lat[covered],
                                                        result.grid[covered])
        return np.setdiff1d(rows, covered)

    def _on_boundary(self, lon: NDArray[np.float64], lat: NDArray[np.float64],
                     grid: NDArray[np.int32]) -> NDArray[np.bool_]:
        x, y = self._transformer.transform(lon, lat)
        boundary = shapely.boundary(self._metric_geoms[grid])
        distance = shapely.distance(shapely.points(x, y), boundary)
        return np.asarray(distance <= self.boundary_tolerance_m, dtype=np.bool_)

    def _nearest(self, lon: NDArray[np.float64], lat: NDArray[np.float64],
                 rows: NDArray[np.intp], result: LocateResult) -> None:
        """Nearest grid within the radius (ties to the lowest code) for uncovered points."""
        x, y = self._transformer.transform(lon, lat)
        points = shapely.points(x, y)
        radius = self.outside_radius_m
        i, j = self._metric_tree.query(points, predicate="dwithin",
                                       distance=radius * (1 + 1e-9) + 1e-6)
        distance = shapely.distance(points[i], self._metric_geoms[j])
        keep = distance <= radius
        i, j, distance = i[keep], j[keep], distance[keep]
        best = np.lexsort((self._rank[j], distance, i))
        _, first = np.unique(i[best], return_index=True)
        chosen = best[first]
        result.grid[rows[i[chosen]]] = j[chosen]
        result.distance_m[rows[i[chosen]]] = distance[chosen]

    @cached_property
    def _metric_geoms(self) -> NDArray[np.object_]:
        return np.asarray(shapely.from_ragged_array(shapely.GeometryType.MULTIPOLYGON,
                                                    self._metric_coords, self._offsets),
                          dtype=object)

    @cached_property
    def _metric_tree(self) -> shapely.STRtree:
        return shapely.STRtree(self._metric_geoms)


def _cell_size_m(geoms: NDArray[np.object_], bounds: tuple[float, float, float, float],
                 per_m: tuple[float, float], cells_per_grid: float, max_cells: int) -> float:
    """Cell side in metres: ``cells_per_grid`` cells in the average grid, at most max_cells."""
    square_m = 1.0 / (per_m[0] * per_m[1])
    mean_area_m2 = float(np.mean(shapely.area(geoms))) * square_m
    extent_m2 = (bounds[2] - bounds[0]) * (bounds[3] - bounds[1]) * square_m
    return max(math.sqrt(mean_area_m2 / cells_per_grid), math.sqrt(extent_m2 / max_cells), 0.5)


def _checked(grids: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """``grids`` with a positional index, in EPSG:4326, its codes and geometries checked."""
    if "code" not in grids.columns:
        raise InvalidInput("grids have no 'code' column", field="code")
    if len(grids) == 0:
        raise InvalidInput("there are no grids to index", field="grids")
    frame = grids.reset_index(drop=True)
    if frame.crs is not None and frame.crs.to_epsg() not in (4326, 4490):
        frame = frame.to_crs("EPSG:4326")
    codes = frame["code"].to_numpy()
    not_str = [i for i, c in enumerate(codes) if not isinstance(c, str)]
    if not_str:
        raise InvalidInput(f"grid code at row {not_str[0]} is not a string: {codes[not_str[0]]!r}",
                           field="code")
    duplicated = frame["code"].duplicated()
    if duplicated.any():
        raise InvalidInput(f"grid code {codes[duplicated.to_numpy()][0]!r} appears twice",
                           field="code", fix="give every grid of a generation its own code")
    geoms = np.asarray(frame.geometry.values, dtype=object)
    kind = shapely.get_type_id(geoms)
    usable = ((kind == 3) | (kind == 6)) & ~shapely.is_empty(geoms)
    usable[usable] = shapely.is_valid(geoms[usable])
    if not usable.all():
        row = int(np.flatnonzero(~usable)[0])
        reason = shapely.is_valid_reason(geoms[row]) if geoms[row] is not None else "missing"
        raise InvalidInput(f"grid {codes[row]!r} has no valid Polygon/MultiPolygon geometry "
                           f"({reason})", field="geometry",
                           fix="repair it (e.g. ST_MakeValid) before indexing")
    return frame
