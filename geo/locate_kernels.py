"""Numba lookup kernel of the in-memory grid index (:mod:`geo.locate_index`), and its constants.

Point-in-polygon is a crossing-number test whose orientation sign is trusted only outside
Shewchuk's error bound (``orient2d``'s ``ccwerrboundA``): a point that close to an edge, or
on an edge's line inside its bounding box, is reported ambiguous and resolved by GEOS.

The lookup is bound by memory latency, so points go in batches, stage by stage, each stage a
loop without data-dependent branches where it matters (a mispredicted branch discards the
cache misses in flight): raster gather for the batch, then classification, then a sweep that
loads the candidate edge lists of the impure points, then the exact tests on warm data.
"""

from __future__ import annotations

import numpy as np
from numba import njit

# Raster cell values: >= 0 a pure cell owned by that grid row; FAR/NEAR no grid covers the
# cell (FAR: none within the outside radius either); <= IMPURE0 candidate block IMPURE0 - value.
FAR = -1
NEAR = -2
IMPURE0 = -3
_NOT_FINITE = -2**31

# Point status left by locate_points: DONE needs nothing more.
DONE = 0
AMBIGUOUS = 1
BORDERLINE = 2
OUTSIDE = 3
BAD = 4

# Raster parameters, one float64 array: origin, cell size, inverse cell size, shape.
X0, Y0, SX, SY, INV_SX, INV_SY, NX, NY = range(8)
# Metric lattice parameters: origin, inverse spacing, node counts.
LX0, LY0, INV_LX, INV_LY, NLX, NLY = range(6)
# Columns of an edge record (one per ring edge): ends in degrees, then in metric_crs.
EX1, EY1, EX2, EY2, MX1, MY1, MX2, MY2 = range(8)

_EPSILON = 2.0**-53
ORIENT_ERRBOUND = (3.0 + 16.0 * _EPSILON) * _EPSILON
BATCH = 512


@njit(cache=True, nogil=True)
def _next_candidate(blocks: np.ndarray, head: int) -> int:
    """Where the candidate after the one at ``blocks[head]`` starts.

    A candidate is: grid, (edge count << 1 | parity), then the edge record numbers.
    """
    return head + 2 + (blocks[head + 1] >> 1)


@njit(cache=True, nogil=True)
def _covers(px: float, py: float, head: int, blocks: np.ndarray, edges: np.ndarray,
            near2: float) -> tuple[int, bool]:
    """(state, near) of the candidate at ``blocks[head]``. state 0: it does not cover the
    point; 1: it does; 2: the point is too close to one of its edges to tell. near: the point
    is within sqrt(near2) degrees of the line through one of its listed edges.

    The candidate lists the grid's edges near the cell, plus the parity of the crossings of
    the eastward ray by its farther edges (the same for every point of the cell).
    """
    inside = (blocks[head + 1] & 1) != 0
    unsure = False
    near = False
    for j in range(head + 2, _next_candidate(blocks, head)):
        e = blocks[j]
        x1, y1, x2, y2 = edges[e, EX1], edges[e, EY1], edges[e, EX2], edges[e, EY2]
        left = (x1 - px) * (y2 - py)
        right = (y1 - py) * (x2 - px)
        det = left - right
        west, east = min(x1, x2), max(x1, x2)
        in_box = (py >= min(y1, y2)) & (py <= max(y1, y2)) & (px >= west) & (px <= east)
        unsure |= in_box & (abs(det) <= ORIENT_ERRBOUND * (abs(left) + abs(right)))
        straddles = (y1 > py) != (y2 > py)
        inside ^= straddles & ((px < west) | ((px <= east) & ((det > 0.0) == (y2 > y1))))
        near |= det * det <= near2 * ((x2 - x1) * (x2 - x1) + (y2 - y1) * (y2 - y1))
    if unsure:
        return 2, near
    return (1 if inside else 0), near


@njit(cache=True, nogil=True)
def _boundary_distance2(mx: float, my: float, head: int, blocks: np.ndarray,
                        edges: np.ndarray) -> float:
    """Squared metric distance from (mx, my) to the nearest edge listed at ``blocks[head]``."""
    best = np.inf
    for j in range(head + 2, _next_candidate(blocks, head)):
        e = blocks[j]
        ax, ay = edges[e, MX1], edges[e, MY1]
        dx, dy = edges[e, MX2] - ax, edges[e, MY2] - ay
        length2 = dx * dx + dy * dy
        t = ((mx - ax) * dx + (my - ay) * dy) / length2 if length2 > 0.0 else 0.0
        t = min(max(t, 0.0), 1.0)
        ex, ey = mx - ax - t * dx, my - ay - t * dy
        best = min(best, ex * ex + ey * ey)
    return best


@njit(cache=True, nogil=True)
def _to_metric(px: float, py: float, lp: np.ndarray, lattice: np.ndarray) -> tuple[float, float]:
    """Bilinear interpolation of the metric lattice (rows x columns x 2) at (px, py)."""
    fx = (px - lp[LX0]) * lp[INV_LX]
    fy = (py - lp[LY0]) * lp[INV_LY]
    i = min(max(int(np.floor(fx)), 0), int(lp[NLX]) - 2)
    j = min(max(int(np.floor(fy)), 0), int(lp[NLY]) - 2)
    tx, ty = fx - i, fy - j
    w00, w01, w10, w11 = (1 - tx) * (1 - ty), tx * (1 - ty), (1 - tx) * ty, tx * ty
    x = (w00 * lattice[j, i, 0] + w01 * lattice[j, i + 1, 0]
         + w10 * lattice[j + 1, i, 0] + w11 * lattice[j + 1, i + 1, 0])
    y = (w00 * lattice[j, i, 1] + w01 * lattice[j, i + 1, 1]
         + w10 * lattice[j + 1, i, 1] + w11 * lattice[j + 1, i + 1, 1])
    return x, y


@njit(cache=True, nogil=True)
def _gather(lo: int, hi: int, lon: np.ndarray, lat: np.ndarray, cells: np.ndarray,
            rp: np.ndarray, values: np.ndarray) -> None:
    """Raster value of each point of [lo, hi); FAR off the raster, _NOT_FINITE for NaN/inf."""
    nx, ny = int(rp[NX]), int(rp[NY])
    x0, y0, ix, iy = rp[X0], rp[Y0], rp[INV_SX], rp[INV_SY]
    on_raster = True
    for i in range(lo, hi):  # no branch: the common case then gathers without any
        fx, fy = (lon[i] - x0) * ix, (lat[i] - y0) * iy
        on_raster &= (fx >= 0.0) & (fy >= 0.0) & (fx < nx) & (fy < ny)
    for i in range(lo, hi):
        fx, fy = (lon[i] - x0) * ix, (lat[i] - y0) * iy
        if on_raster or ((fx >= 0.0) & (fy >= 0.0) & (fx < nx) & (fy < ny)):
            values[i - lo] = cells[int(fy) * nx + int(fx)]
        elif np.isfinite(lon[i]) and np.isfinite(lat[i]):
            values[i - lo] = FAR
        else:
            values[i - lo] = _NOT_FINITE


@njit(cache=True, nogil=True)
def _classify(lo: int, hi: int, values: np.ndarray, grid: np.ndarray, outside: np.ndarray,
              distance: np.ndarray, on_boundary: np.ndarray, status: np.ndarray,
              pending: np.ndarray, block: np.ndarray) -> int:
    """Answer pure and empty cells; queue impure ones (branch-free); return the queue length."""
    queued = 0
    for i in range(lo, hi):
        v = values[i - lo]
        pending[queued], block[queued] = i, IMPURE0 - v
        queued += (v <= IMPURE0) & (v != _NOT_FINITE)
        grid[i] = max(v, FAR)
        outside[i] = v < 0
        distance[i] = 0.0 if v >= 0 else np.nan
        on_boundary[i] = False
        status[i] = OUTSIDE if v == NEAR else (BAD if v == _NOT_FINITE else DONE)
    return queued


@njit(cache=True, nogil=True)
def _touch(queued: int, block: np.ndarray, blocks: np.ndarray, edges: np.ndarray,
           listed: np.ndarray) -> float:
    """Load the candidate blocks, list their edge records (from cache by then), and load
    those in a loop of independent reads: the misses of a whole batch overlap."""
    sink = 0.0
    last = blocks.size - 1
    for q in range(queued):  # a block often spills into a second cache line
        sink += blocks[block[q]] + blocks[min(block[q] + 12, last)]
    n = 0
    for q in range(queued):
        head = block[q] + 1
        for _ in range(blocks[block[q]]):
            end = _next_candidate(blocks, head)
            for j in range(head + 2, end):
                listed[n] = blocks[j]
                n = min(n + 1, listed.size - 1)  # a rare overflow just touches less
            head = end
    for t in range(n):
        sink += edges[listed[t], EX1]
    return sink


@njit(cache=True, nogil=True)
def _cover_pass(queued: int, pending: np.ndarray, block: np.ndarray, lon: np.ndarray,
                lat: np.ndarray, blocks: np.ndarray, edges: np.ndarray, near2: float,
                grid: np.ndarray, outside: np.ndarray, distance: np.ndarray,
                status: np.ndarray) -> int:
    """Exact cover test over each queued point's candidates, lowest code first.

    Covered points near an edge stay queued for ``_boundary_pass`` (compacted, ``block``
    now pointing at their candidate's entry); returns how many. The others are not on a
    boundary: no edge line comes within sqrt(near2) degrees, more than the tolerance.
    """
    covered = 0
    for q in range(queued):
        i, b = pending[q], block[q]
        st, at, head, near = OUTSIDE, -1, b + 1, False
        for _ in range(blocks[b]):
            found, near = _covers(lon[i], lat[i], head, blocks, edges, near2)
            if found == 2:
                st = AMBIGUOUS
                break
            if found == 1:
                st, at = DONE, head
                break
            head = _next_candidate(blocks, head)
        status[i] = st
        if at >= 0:
            grid[i], outside[i], distance[i] = blocks[at], False, 0.0
            if near:
                pending[covered], block[covered] = i, at
                covered += 1
    return covered


@njit(cache=True, nogil=True)
def _boundary_pass(covered: int, pending: np.ndarray, block: np.ndarray, lon: np.ndarray,
                   lat: np.ndarray, blocks: np.ndarray, edges: np.ndarray, lp: np.ndarray,
                   lattice: np.ndarray, lo2: float, hi2: float, on_boundary: np.ndarray,
                   status: np.ndarray) -> None:
    """on_boundary of covered points from their interpolated metric position."""
    for q in range(covered):
        i, t = pending[q], block[q]
        mx, my = _to_metric(lon[i], lat[i], lp, lattice)
        d2 = _boundary_distance2(mx, my, t, blocks, edges)
        on_boundary[i] = d2 <= lo2
        if lo2 < d2 <= hi2:
            status[i] = BORDERLINE


@njit(cache=True, nogil=True)
def locate_points(lo: int, hi: int, lon: np.ndarray, lat: np.ndarray, cells: np.ndarray,
                  rp: np.ndarray, blocks: np.ndarray, edges: np.ndarray, lp: np.ndarray,
                  lattice: np.ndarray, near2: float, lo2: float, hi2: float,
                  grid: np.ndarray, outside: np.ndarray, distance: np.ndarray,
                  on_boundary: np.ndarray, status: np.ndarray) -> float:
    """Fill the outputs for points [lo, hi); ``status`` says which need finishing in Python.

    ``near2``: the squared distance in degrees beyond which a point is surely farther than
    the tolerance from an edge; ``lo2``/``hi2``: the squared tolerance in metres minus/plus
    the metric interpolation's error bound; a distance between them is BORDERLINE and is
    measured again exactly.
    Releases the GIL: callers run slices on several threads.
    """
    values = np.empty(BATCH, np.int32)
    pending = np.empty(BATCH, np.int64)
    block = np.empty(BATCH, np.int64)
    listed = np.empty(16 * BATCH, np.int32)
    sink = 0.0
    for start in range(lo, hi, BATCH):
        stop = min(hi, start + BATCH)
        _gather(start, stop, lon, lat, cells, rp, values)
        queued = _classify(start, stop, values, grid, outside, distance, on_boundary, status,
                           pending, block)
        if queued:
            sink += _touch(queued, block, blocks, edges, listed)
            covered = _cover_pass(queued, pending, block, lon, lat, blocks, edges, near2,
                                  grid, outside, distance, status)
            _boundary_pass(covered, pending, block, lon, lat, blocks, edges, lp, lattice, lo2,
                           hi2, on_boundary, status)
    return sink


@njit(cache=True, nogil=True)
def unfinished(status: np.ndarray) -> np.ndarray:
    """Rows whose status is not DONE (``np.flatnonzero``, several times faster on uint8)."""
    count = 0
    for i in range(status.size):
        count += status[i] != DONE
    rows = np.empty(count, np.int64)
    n = 0
    for i in range(status.size):
        if status[i] != DONE:
            rows[n] = i
            n += 1
    return rows
