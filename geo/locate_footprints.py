"""Numba kernel of the API's one-point footprint lookup (``BuildingIndex.locate_point``).

Calling GEOS through shapely costs ~5 µs a call, more than the work for a point and its
twenty-odd nearby footprints. The kernel does the same in one call: the footprints covering
the point, by a crossing-number test whose sign is trusted only outside Shewchuk's error
bound (as in :mod:`geo.locate_kernels`); else each footprint's distance to the point in the
metric CRS, with GEOS's own point-to-segment formula. A point too close to an edge to tell
is reported unsure, and the caller asks GEOS.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely
from numba import njit
from numpy.typing import NDArray

from geo.locate_kernels import ORIENT_ERRBOUND


@dataclass(frozen=True)
class Rings:
    """Every ring of every footprint: coordinates in degrees and in the metric CRS, footprint
    ``i``'s rings ``ring_start[fp_start[i]:fp_start[i + 1]]``, each ring a closed run of
    ``degrees[ring_start[r]:ring_start[r + 1]]``."""

    degrees: NDArray[np.float64]
    metric: NDArray[np.float64]
    fp_start: NDArray[np.int64]
    ring_start: NDArray[np.int64]

    @classmethod
    def of(cls, footprints: NDArray[np.object_], metric: NDArray[np.object_]) -> Rings:
        """``footprints`` (WGS84) and the same geometries in the metric CRS, vertex for vertex."""
        parts, owner = shapely.get_parts(footprints, return_index=True)
        rings, ring_part = shapely.get_rings(parts, return_index=True)
        degrees, ring_of = shapely.get_coordinates(rings, return_index=True)
        metric_rings = shapely.get_rings(shapely.get_parts(metric))
        metres = shapely.get_coordinates(metric_rings)
        if metres.shape != degrees.shape:
            raise ValueError("the metric footprints do not match the WGS84 ones vertex for vertex")
        counts = np.bincount(ring_of, minlength=len(rings))
        ring_start = np.r_[0, np.cumsum(counts)].astype(np.int64)
        fp_start = np.searchsorted(owner[ring_part], np.arange(len(footprints) + 1)).astype(
            np.int64)
        return cls(np.ascontiguousarray(degrees), np.ascontiguousarray(metres), fp_start,
                   ring_start)


@njit(cache=True, nogil=True)
def _covers(px: float, py: float, footprint: int, fp_start: np.ndarray, ring_start: np.ndarray,
            xy: np.ndarray) -> int:
    """0: the footprint does not cover the point; 1: it does; 2: too close to an edge to tell."""
    inside = False
    for ring in range(fp_start[footprint], fp_start[footprint + 1]):
        for j in range(ring_start[ring], ring_start[ring + 1] - 1):
            x1, y1, x2, y2 = xy[j, 0], xy[j, 1], xy[j + 1, 0], xy[j + 1, 1]
            left = (x1 - px) * (y2 - py)
            right = (y1 - py) * (x2 - px)
            det = left - right
            west, east = min(x1, x2), max(x1, x2)
            if (min(y1, y2) <= py <= max(y1, y2) and west <= px <= east
                    and abs(det) <= ORIENT_ERRBOUND * (abs(left) + abs(right))):
                return 2
            if (y1 > py) != (y2 > py) and (px < west or (px <= east and (det > 0.0) == (y2 > y1))):
                inside = not inside
    return 1 if inside else 0


@njit(cache=True, nogil=True)
def _segment_distance(px: float, py: float, ax: float, ay: float, bx: float,
                      by: float) -> float:
    """GEOS's ``Distance::pointToSegment``, operation for operation."""
    if ax == bx and ay == by:
        return np.sqrt((px - ax) * (px - ax) + (py - ay) * (py - ay))
    len2 = (bx - ax) * (bx - ax) + (by - ay) * (by - ay)
    r = ((px - ax) * (bx - ax) + (py - ay) * (by - ay)) / len2
    if r <= 0.0:
        return np.sqrt((px - ax) * (px - ax) + (py - ay) * (py - ay))
    if r >= 1.0:
        return np.sqrt((px - bx) * (px - bx) + (py - by) * (py - by))
    s = ((ay - py) * (bx - ax) - (ax - px) * (by - ay)) / len2
    return abs(s) * np.sqrt(len2)


@njit(cache=True, nogil=True)
def _distance(px: float, py: float, footprint: int, fp_start: np.ndarray,
              ring_start: np.ndarray, xy: np.ndarray) -> float:
    """Distance from the point to the footprint in the metric CRS, 0 inside it (as GEOS has
    it: a point just outside in degrees may fall inside once projected); -1 when too close
    to an edge to tell which."""
    state = _covers(px, py, footprint, fp_start, ring_start, xy)
    if state != 0:
        return 0.0 if state == 1 else -1.0
    best = np.inf
    for ring in range(fp_start[footprint], fp_start[footprint + 1]):
        for j in range(ring_start[ring], ring_start[ring + 1] - 1):
            best = min(best, _segment_distance(px, py, xy[j, 0], xy[j, 1], xy[j + 1, 0],
                                               xy[j + 1, 1]))
    return best


@njit(cache=True, nogil=True)
def nearest_footprint(lon: float, lat: float, x: float, y: float, candidates: np.ndarray,
                      rank: np.ndarray, fp_start: np.ndarray, ring_start: np.ndarray,
                      degrees: np.ndarray, metric: np.ndarray,
                      radius: float) -> tuple[int, float, bool]:
    """(footprint, metres, unsure) among ``candidates`` for the point (``lon``, ``lat``),
    (``x``, ``y``) in the metric CRS: the covering footprint of lowest ``rank`` at 0 m, else
    the nearest within ``radius`` (ties to the lowest rank), else -1; ``unsure`` when a
    candidate's edge passes too close to the point to tell whether it covers it (in degrees,
    or in metres for the distance)."""
    covering, covering_rank = -1, np.iinfo(np.int64).max
    for c in candidates:
        state = _covers(lon, lat, c, fp_start, ring_start, degrees)
        if state == 2:
            return -1, np.nan, True
        if state == 1 and rank[c] < covering_rank:
            covering, covering_rank = c, rank[c]
    if covering >= 0:
        return covering, 0.0, False
    nearest, nearest_rank, nearest_m = -1, np.iinfo(np.int64).max, np.inf
    for c in candidates:
        metres = _distance(x, y, c, fp_start, ring_start, metric)
        if metres < 0.0:
            return -1, np.nan, True
        if metres < nearest_m or (metres == nearest_m and rank[c] < nearest_rank):
            nearest, nearest_rank, nearest_m = c, rank[c], metres
    if nearest < 0 or nearest_m > radius:
        return -1, np.nan, False
    return nearest, nearest_m, False
