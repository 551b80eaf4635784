"""Share of each footprint lying in each grid, fast: grids as convex pieces, footprints clipped.

GEOS needs ~20 µs for one small polygon intersection: too slow for 100,000 footprints, a
fifth of which straddle grid edges. Grids become convex pieces (a grid is its convex hull
minus the triangles of the notches the hull adds), and clipping a ring by a convex
piece is Sutherland-Hodgman: exact for area even when the ring is concave (the spurious edges
it may leave enclose no area). A footprint's area in a grid is the signed sum over the grid's
pieces and the footprint's rings (holes subtracting). It all runs in numpy over all (ring,
piece) pairs at once: a ring whose bounding box is inside a piece, or beyond one of its edges, needs
no clipping, and a ring is clipped only by the edges it crosses. A JIT (numba) would cost
more to import than the whole check takes.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import shapely
from numpy.typing import NDArray

from geo.ingest.geometry import polygonal_parts

logger = logging.getLogger(__name__)

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
_CHUNK = 32_768  # pairs clipped at once: bounds the temporary arrays to tens of MB
_MAX_PIECE_VERTICES = 16  # convex grids with more vertices are cut into triangles


@dataclass(frozen=True)
class _Rings:
    """Footprint rings padded to one width: coordinates, counts, owner, +1 shell / -1 hole."""

    x: FloatArray
    y: FloatArray
    count: IntArray
    owner: IntArray
    sign: FloatArray
    bounds: FloatArray
    area: FloatArray


@dataclass(frozen=True)
class _Pieces:
    """Convex pieces of the grids, counter-clockwise, padded by repeating the last vertex;
    a piece's area counts for its grid with its sign (+1, or -1 for a hull's notch)."""

    corners: FloatArray
    grid: IntArray
    sign: FloatArray
    geoms: NDArray[np.object_]


def grid_shares(footprints: NDArray[np.object_],
                grids: NDArray[np.object_]) -> tuple[IntArray, IntArray, FloatArray]:
    """Share of each footprint's area inside each grid it overlaps.

    Parameters
    ----------
    footprints, grids : numpy.ndarray of shapely Polygon/MultiPolygon
        Valid polygons (any planar coordinates; shares are ratios).

    Returns
    -------
    footprint, grid, share : numpy.ndarray
        One entry per (footprint, grid) pair with a positive share, sorted by footprint,
        then by share, largest first.
    """
    if not len(footprints) or not len(grids):
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, np.zeros(0)
    pieces = _convex_pieces(grids)
    pair_footprint, pair_piece = shapely.STRtree(pieces.geoms).query(footprints)
    keys, areas = [], []
    for rings in _ring_groups(footprints):
        ring, piece = _ring_pairs(rings, pair_footprint, pair_piece)
        for lo in range(0, len(ring), _CHUNK):
            r, q = ring[lo:lo + _CHUNK], piece[lo:lo + _CHUNK]
            areas.append(_clipped_areas(rings, r, pieces.corners[q])
                         * rings.sign[r] * pieces.sign[q])
            keys.append(rings.owner[r] * len(grids) + pieces.grid[q])
    unique, inverse = np.unique(np.concatenate(keys), return_inverse=True)
    summed = np.bincount(inverse, weights=np.concatenate(areas), minlength=len(unique))
    footprint, grid = unique // len(grids), unique % len(grids)
    with np.errstate(divide="ignore", invalid="ignore"):
        share = summed / shapely.area(footprints)[footprint]
    keep = share > 1e-9
    footprint, grid, share = footprint[keep], grid[keep], share[keep]
    order = np.lexsort((-share, footprint))
    return footprint[order], grid[order], share[order]


def _convex_pieces(grids: NDArray[np.object_]) -> _Pieces:
    """Each grid as its convex hull (+1) minus the triangles of hull - grid (-1).

    Survey grids are nearly convex: the notches are few and small, so a footprint is
    usually clipped by one hull only. Hulls with many vertices fall back to triangles.
    """
    hulls = shapely.convex_hull(grids)
    simple = ((shapely.get_type_id(hulls) == 3)
              & (shapely.get_num_coordinates(hulls) <= _MAX_PIECE_VERTICES + 1))
    whole = np.flatnonzero(simple)
    notches = shapely.difference(hulls[simple], grids[simple])
    notch_triangles, notch_owner = shapely.get_parts(
        shapely.constrained_delaunay_triangles(polygonal_parts(notches)), return_index=True)
    triangles, owner = shapely.get_parts(
        shapely.constrained_delaunay_triangles(grids[~simple]), return_index=True)
    geoms = np.concatenate([hulls[whole], notch_triangles, triangles])
    grid = np.concatenate([whole, whole[notch_owner], np.flatnonzero(~simple)[owner]])
    sign = np.concatenate([np.ones(len(whole)), -np.ones(len(notch_triangles)),
                           np.ones(len(triangles))])
    oriented = shapely.orient_polygons(geoms)  # shells counter-clockwise
    coords, index = shapely.get_coordinates(oriented, return_index=True)
    counts = np.bincount(index, minlength=len(geoms)) - 1  # without the closing point
    starts = np.r_[0, np.cumsum(counts + 1)[:-1]]
    width = int(counts.max()) if len(counts) else 3
    column = np.minimum(np.arange(width), counts[:, None] - 1)
    return _Pieces(coords[starts[:, None] + column], grid.astype(np.int64), sign, geoms)


def _ring_groups(footprints: NDArray[np.object_]) -> list[_Rings]:
    """All rings of all footprints, in groups of similar length (padding stays small)."""
    coords, index = shapely.get_coordinates(footprints, return_index=True)
    counts = np.bincount(index, minlength=len(footprints))
    starts = np.r_[0, np.cumsum(counts)[:-1]]
    present = counts > 0
    closes = np.bincount(index, weights=(coords == coords[starts[index]]).all(axis=1),
                         minlength=len(footprints))
    ends_closed = np.zeros(len(footprints), dtype=bool)
    ends_closed[present] = (coords[(starts + counts - 1)[present]]
                            == coords[starts[present]]).all(axis=1)
    # One ring: its first point comes back once, at the very end.
    simple = (closes == 2) & ends_closed & (counts >= 4)
    x_all, y_all = [coords[:, 0]], [coords[:, 1]]
    ring_start, ring_count = [starts[simple]], [counts[simple] - 1]
    owner, sign = [np.flatnonzero(simple)], [np.ones(int(simple.sum()))]
    bounds, area = [shapely.bounds(footprints[simple])], [shapely.area(footprints[simple])]
    complex_rows = np.flatnonzero(~simple & present)
    if len(complex_rows):
        polygons, polygon_owner = shapely.get_parts(footprints[complex_rows], return_index=True)
        rings, ring_polygon = shapely.get_rings(polygons, return_index=True)
        ring_coords, ring_index = shapely.get_coordinates(rings, return_index=True)
        ring_counts = np.bincount(ring_index, minlength=len(rings))
        x_all.append(ring_coords[:, 0])
        y_all.append(ring_coords[:, 1])
        ring_start.append(len(coords) + np.r_[0, np.cumsum(ring_counts)[:-1]])
        ring_count.append(ring_counts - 1)
        owner.append(complex_rows[polygon_owner[ring_polygon]])
        shell = np.r_[True, ring_polygon[1:] != ring_polygon[:-1]]
        sign.append(np.where(shell, 1.0, -1.0))
        bounds.append(shapely.bounds(rings))
        area.append(shapely.area(shapely.polygons(rings)))
    return _pad(np.concatenate(x_all), np.concatenate(y_all), np.concatenate(ring_start),
                np.concatenate(ring_count), np.concatenate(owner), np.concatenate(sign),
                np.concatenate(bounds), np.concatenate(area))


def _pad(x: FloatArray, y: FloatArray, start: IntArray, count: IntArray, owner: IntArray,
         sign: FloatArray, bounds: FloatArray, area: FloatArray) -> list[_Rings]:
    groups = []
    width_of = 4 * np.ceil(np.maximum(count, 3) / 4).astype(np.int64)
    for width in np.unique(width_of):
        rows = np.flatnonzero(width_of == width)
        rows = rows[np.argsort(owner[rows], kind="stable")]
        at = start[rows, None] + np.minimum(np.arange(width), count[rows, None] - 1)
        groups.append(_Rings(x[at], y[at], count[rows], owner[rows], sign[rows], bounds[rows],
                             area[rows]))
    return groups


def _ring_pairs(rings: _Rings, pair_footprint: NDArray[np.intp],
                pair_piece: NDArray[np.intp]) -> tuple[IntArray, IntArray]:
    """(ring, piece) pairs from (footprint, piece) pairs, for the rings in this group."""
    first = np.searchsorted(rings.owner, pair_footprint, side="left")
    n = np.searchsorted(rings.owner, pair_footprint, side="right") - first
    pair = np.repeat(np.arange(len(pair_footprint)), n)
    offset = np.arange(len(pair)) - np.repeat(np.cumsum(n) - n, n)
    return (np.repeat(first, n) + offset).astype(np.int64), pair_piece[pair].astype(np.int64)


def _clipped_areas(rings: _Rings, ring: IntArray, corners: FloatArray) -> FloatArray:
    """|ring ∩ piece| for each pair; coordinates relative to the piece's first corner."""
    origin = corners[:, 0]
    cx, cy = corners[:, :, 0] - origin[:, 0, None], corners[:, :, 1] - origin[:, 1, None]
    dx, dy = np.roll(cx, -1, axis=1) - cx, np.roll(cy, -1, axis=1) - cy
    box = rings.bounds[ring] - np.tile(origin, 2)
    # A linear function on a box is smallest at one corner and largest at the opposite one.
    low = (dx * (np.where(dx > 0, box[:, 1, None], box[:, 3, None]) - cy)
           - dy * (np.where(dy > 0, box[:, 2, None], box[:, 0, None]) - cx))
    high = (dx * (np.where(dx > 0, box[:, 3, None], box[:, 1, None]) - cy)
            - dy * (np.where(dy > 0, box[:, 0, None], box[:, 2, None]) - cx))
    inside = (low >= 0).all(axis=1)
    outside = (high < 0).any(axis=1)
    area = np.where(inside, rings.area[ring], 0.0)
    cut = np.flatnonzero(~inside & ~outside)
    x = rings.x[ring[cut]] - origin[cut, 0, None]
    y = rings.y[ring[cut]] - origin[cut, 1, None]
    n = rings.count[ring[cut]]
    for e in range(cx.shape[1]):  # only by the edges each ring's box crosses
        rows = np.flatnonzero(low[cut, e] < 0)
        a = np.stack([cx[cut[rows], e], cy[cut[rows], e]], axis=1)
        b = a + np.stack([dx[cut[rows], e], dy[cut[rows], e]], axis=1)
        x, y, n = _clip(x, y, n, rows, a, b)
    area[cut] = np.abs(_shoelace(x, y, n))
    return area


def _side(x: FloatArray, y: FloatArray, a: FloatArray, b: FloatArray) -> FloatArray:
    """Positive where (x, y) lies left of the line a -> b."""
    return ((b[:, 0] - a[:, 0])[:, None] * (y - a[:, 1, None])
            - (b[:, 1] - a[:, 1])[:, None] * (x - a[:, 0, None]))


def _clip(x: FloatArray, y: FloatArray, n: IntArray, rows: IntArray, a: FloatArray,
          b: FloatArray) -> tuple[FloatArray, FloatArray, IntArray]:
    """Sutherland-Hodgman on ``rows``: keep the part of each ring left of a -> b."""
    width = x.shape[1]
    columns = np.arange(width)
    cs = _side(x[rows], y[rows], a, b)
    outward = ((cs < 0) & (columns < n[rows, None])).any(axis=1)
    rows, cs = rows[outward], cs[outward]
    if not len(rows):
        return x, y, n
    cx, cy, cn = x[rows], y[rows], n[rows]
    valid = columns < cn[:, None]
    previous = (columns - 1) % np.maximum(cn, 1)[:, None]
    px = np.take_along_axis(cx, previous, axis=1)
    py = np.take_along_axis(cy, previous, axis=1)
    ps = np.take_along_axis(cs, previous, axis=1)
    keep = (cs >= 0) & valid
    cross = ((ps >= 0) != (cs >= 0)) & valid
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(cross, ps / (ps - cs), 0.0)
    # Each edge previous -> current gives its crossing, then the current point if kept.
    mask = np.stack([cross, keep], axis=2).reshape(len(rows), 2 * width)
    vx = np.stack([px + t * (cx - px), cx], axis=2).reshape(len(rows), 2 * width)
    vy = np.stack([py + t * (cy - py), cy], axis=2).reshape(len(rows), 2 * width)
    count = mask.sum(axis=1)
    out_width = max(width, int(count.max()))
    if out_width > width:
        pad = ((0, 0), (0, out_width - width))
        x, y = np.pad(x, pad), np.pad(y, pad)
    position = np.cumsum(mask, axis=1) - 1
    row, column = np.nonzero(mask)
    ox, oy = np.zeros((len(rows), out_width)), np.zeros((len(rows), out_width))
    ox[row, position[row, column]] = vx[row, column]
    oy[row, position[row, column]] = vy[row, column]
    x[rows], y[rows] = ox, oy
    n = n.copy()
    n[rows] = count
    return x, y, n


def _shoelace(x: FloatArray, y: FloatArray, n: IntArray) -> FloatArray:
    """Signed areas of padded open rings of n points."""
    columns = np.arange(x.shape[1])
    following = (columns + 1) % np.maximum(n, 1)[:, None]
    terms = x * np.take_along_axis(y, following, axis=1) - np.take_along_axis(x, following,
                                                                                axis=1) * y
    return np.asarray(0.5 * np.where(columns < n[:, None], terms, 0.0).sum(axis=1))
