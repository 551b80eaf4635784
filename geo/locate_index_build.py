"""Tables behind :class:`geo.locate_index.GridIndex`: flattened rings, metric lattice, raster.

All error bounds the lookup relies on are derived here:

* ``degrees_per_metre``: the largest longitude and latitude change that one metric metre can
  be anywhere near the grids (from the projection's Jacobian, sampled, plus 10%);
* ``Lattice.error_m``: the largest error of the bilinear metric position (twice the error at
  the tile centres, where bilinear interpolation errs most, plus a micrometre);
* ``slack_m``: how far a grid edge drawn straight in degrees can stray from the same edge
  drawn straight in metres (the projection bends lines: sagitta <= 2e-7 L^2 for curvature
  up to 1.6e-6 /m, i.e. latitudes below 84 degrees, plus a centimetre).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np
import pyproj
import shapely
from numpy.typing import NDArray

from geo import locate_index_raster as kr
from geo import locate_kernels as k

logger = logging.getLogger(__name__)

EPS_DEG = 1e-9
"""Buffer (degrees, ~0.1 mm) that absorbs rounding when cells are marked."""
LATTICE_STEP_DEG = 0.005
"""About 500 m: bilinear error ~3 mm around Hangzhou, and a city's lattice stays in L2 cache."""
MAX_LATTICE_NODES = 1 << 14
SAFETY = 1.1


@dataclass(frozen=True)
class Rings:
    """Every ring of every grid, flattened: vertex i and i + 1 form an edge when listed."""

    vxy: NDArray[np.float64]
    """Vertices in degrees, (n, 2)."""
    vm: NDArray[np.float64]
    """The same vertices in metric_crs, (n, 2)."""
    edges: NDArray[np.int32]
    grid_edge_off: NDArray[np.int64]
    offsets: tuple[NDArray[np.int32], ...]
    slack_m: float


@dataclass(frozen=True)
class Lattice:
    """Metric coordinates of a lattice of lon/lat nodes, for bilinear interpolation."""

    params: NDArray[np.float64]
    nodes: NDArray[np.float64]
    """(rows, columns, 2): metric x and y of each node."""
    error_m: float


@dataclass(frozen=True)
class Raster:
    """The cell raster, its candidate lists and the per-grid row edge lists."""

    params: NDArray[np.float64]
    cells: NDArray[np.int32]
    blocks: NDArray[np.int32]
    edges: NDArray[np.float64]
    """(edges, 8): each ring edge's ends in degrees x1 y1 x2 y2, then in metric_crs."""
    impure_cells: int
    candidate_count: int

    @property
    def nbytes(self) -> int:
        return int(self.cells.nbytes + self.blocks.nbytes + self.edges.nbytes)

    def candidates(self, cell: NDArray[np.int64]) -> tuple[NDArray[np.int64], NDArray[np.int32]]:
        """(position in ``cell``, grid) for every candidate of the given impure cells."""
        block = (k.IMPURE0 - self.cells[cell]).astype(np.int64)
        which, grid = kr.block_candidates(self.blocks, block)
        return which, grid


def flatten(geoms: NDArray[np.object_], transformer: pyproj.Transformer) -> Rings:
    """Flatten Polygon/MultiPolygon geometries into vertex and edge arrays, degrees and metres."""
    kind, coords, offsets = shapely.to_ragged_array(geoms)
    if kind == shapely.GeometryType.POLYGON:  # all single polygons: one part each
        offsets = (*offsets, np.arange(len(geoms) + 1, dtype=offsets[0].dtype))
    ring_off, poly_off, geom_off = (np.asarray(o, np.int64) for o in offsets)
    vxy = np.ascontiguousarray(coords, np.float64)
    vm = np.column_stack(transformer.transform(vxy[:, 0], vxy[:, 1])).astype(np.float64)
    is_edge = np.ones(len(vxy), bool)
    is_edge[ring_off[1:] - 1] = False
    edges = np.flatnonzero(is_edge).astype(np.int32)
    first_vertex = ring_off[poly_off[geom_off]]
    grid_edge_off = np.searchsorted(edges, first_vertex).astype(np.int64)
    lengths = np.hypot(*(vm[edges + 1] - vm[edges]).T)
    longest = float(lengths.max()) if lengths.size else 0.0
    return Rings(vxy, vm, edges, grid_edge_off, tuple(offsets),
                 slack_m=0.01 + 2e-7 * longest**2)


def degrees_per_metre(transformer: pyproj.Transformer,
                      bounds: tuple[float, float, float, float],
                      pad_deg: float) -> tuple[float, float]:
    """Largest |d lon| and |d lat| per metric metre over ``bounds`` padded by ``pad_deg``."""
    west, south, east, north = bounds
    lon_grid, lat_grid = np.meshgrid(np.linspace(west - pad_deg, east + pad_deg, 9),
                                     np.linspace(south - pad_deg, north + pad_deg, 9))
    lon, lat, h = lon_grid.ravel(), lat_grid.ravel(), 1e-4
    x0, y0 = transformer.transform(lon, lat)
    x1, y1 = transformer.transform(lon + h, lat)
    x2, y2 = transformer.transform(lon, lat + h)
    a, c = (x1 - x0) / h, (y1 - y0) / h  # d(x, y) / d lon
    b, d = (x2 - x0) / h, (y2 - y0) / h  # d(x, y) / d lat
    det = np.abs(a * d - b * c)
    per_x = np.hypot(d, b) / det
    per_y = np.hypot(c, a) / det
    if not (np.all(np.isfinite(per_x)) and np.all(np.isfinite(per_y))):
        raise ValueError("the metric CRS cannot express the grids' area")
    return float(per_x.max()) * SAFETY, float(per_y.max()) * SAFETY


def raster_params(bounds: tuple[float, float, float, float], cell_m: float,
                  pad_m: float, per_m: tuple[float, float]) -> NDArray[np.float64]:
    """Raster origin, cell size and shape covering ``bounds`` padded by ``pad_m`` metres."""
    sx, sy = cell_m * per_m[0], cell_m * per_m[1]
    west = bounds[0] - pad_m * per_m[0] - 2 * sx
    south = bounds[1] - pad_m * per_m[1] - 2 * sy
    nx = math.ceil((bounds[2] + pad_m * per_m[0] + 2 * sx - west) / sx)
    ny = math.ceil((bounds[3] + pad_m * per_m[1] + 2 * sy - south) / sy)
    params = np.zeros(8, np.float64)
    params[[k.X0, k.Y0, k.SX, k.SY, k.NX, k.NY]] = west, south, sx, sy, nx, ny
    params[k.INV_SX], params[k.INV_SY] = 1.0 / sx, 1.0 / sy
    return params


def build_lattice(rp: NDArray[np.float64], transformer: pyproj.Transformer) -> Lattice:
    """Metric coordinates at lattice nodes over the raster, and the interpolation error."""
    west, south = rp[k.X0], rp[k.Y0]
    width, height = rp[k.SX] * rp[k.NX], rp[k.SY] * rp[k.NY]
    step = max(LATTICE_STEP_DEG, math.sqrt(width * height / MAX_LATTICE_NODES))
    nlx, nly = math.ceil(width / step) + 1, math.ceil(height / step) + 1
    lx, ly = width / (nlx - 1), height / (nly - 1)
    lon, lat = np.meshgrid(west + lx * np.arange(nlx), south + ly * np.arange(nly))
    x, y = (np.asarray(a, np.float64).reshape(nly, nlx) for a in transformer.transform(lon, lat))
    cx, cy = transformer.transform(lon[:-1, :-1] + lx / 2, lat[:-1, :-1] + ly / 2)
    bx = (x[:-1, :-1] + x[:-1, 1:] + x[1:, :-1] + x[1:, 1:]) / 4
    by = (y[:-1, :-1] + y[:-1, 1:] + y[1:, :-1] + y[1:, 1:]) / 4
    error = float(np.max(np.hypot(bx - cx, by - cy)))
    params = np.array([west, south, 1.0 / lx, 1.0 / ly, nlx, nly], np.float64)
    return Lattice(params, np.ascontiguousarray(np.stack([x, y], axis=-1)),
                   error_m=2.0 * error + 1e-6)


def build_raster(rings: Rings, order: NDArray[np.int64], rp: NDArray[np.float64],
                 near_deg: tuple[float, float], reach_deg: tuple[float, float]) -> Raster:
    """Classify every cell: pure (one owner), impure (candidates in code order) or empty.

    ``near_deg``: the (x, y) buffer within which an edge makes a cell impure and is listed
    in a row; ``reach_deg``: the outside radius in degrees, for NEAR versus FAR empty cells.
    """
    nx, ny = int(rp[k.NX]), int(rp[k.NY])
    vx, vy = rings.vxy[:, 0], rings.vxy[:, 1]
    rows = kr.row_edge_lists(vy, rings.edges, rings.grid_edge_off, rp[k.Y0], rp[k.INV_SY],
                             near_deg[1], ny)
    impure = kr.mark_near_edges(vx, vy, rings.edges, rp, *near_deg)
    owner, pair_cell, pair_grid = kr.assign_cells(order, vx, vy, rings.edges,
                                                  rings.grid_edge_off, rows, impure, rp, EPS_DEG)
    occupied = ((impure != 0) | (owner >= 0)).reshape(ny, nx)
    reach = kr.dilate(occupied, math.ceil(reach_deg[0] * rp[k.INV_SX]) + 1,
                      math.ceil(reach_deg[1] * rp[k.INV_SY]) + 1).ravel()
    e = rings.edges
    edge_of_vertex = np.full(len(rings.vxy), -1, np.int32)
    edge_of_vertex[e] = np.arange(e.size, dtype=np.int32)
    blocks = kr.finish_raster(owner, impure, reach, pair_cell, pair_grid, rows, edge_of_vertex,
                              vx, vy, rp, (*near_deg, EPS_DEG))
    impure_cells = int(np.count_nonzero(impure))
    logger.debug("raster %d x %d: %.1f%% impure, %.2f candidates per impure cell", nx, ny,
                 100.0 * impure_cells / owner.size, pair_cell.size / max(impure_cells, 1))
    edges = _cache_aligned((e.size, 8))
    edges[:, 0:2], edges[:, 2:4] = rings.vxy[e], rings.vxy[e + 1]
    edges[:, 4:6], edges[:, 6:8] = rings.vm[e], rings.vm[e + 1]
    return Raster(rp, owner, blocks, edges, impure_cells, int(pair_cell.size))


def _cache_aligned(shape: tuple[int, int]) -> NDArray[np.float64]:
    """An empty float64 array whose rows of 64 bytes each sit in one cache line."""
    raw = np.empty(shape[0] * shape[1] + 8, np.float64)
    skip = (-raw.ctypes.data % 64) // 8
    return raw[skip:skip + shape[0] * shape[1]].reshape(shape)
