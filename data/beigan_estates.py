"""Estates (小区) for the Beigan demo: walled blocks placed inside each community."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import shapely
from shapely.geometry import Polygon

from data.beigan_geometry import largest_polygon, relax, sample_points, voronoi_cells

logger = logging.getLogger(__name__)

COMMUNITY_MARGIN_M = 8.0
"""Gap between an estate and its community's boundary."""
ESTATE_GAP_M = 14.0
"""Gap between two estates (a lane)."""
KIND_WEIGHTS = {"tower": 0.86, "slab": 0.1, "villa": 0.04}
"""Share of estates of each kind: high-rise towers, 5-9 floor slabs, 2-3 floor terraces."""


@dataclass(frozen=True)
class EstatePlan:
    """An estate's outline in local metres, its lattice orientation and its kind."""

    community: int
    outline: Polygon
    angle: float
    kind: str


def main_direction(region: Polygon) -> float:
    """Angle (radians) of the long side of the region's minimum rotated rectangle."""
    ring = np.asarray(shapely.minimum_rotated_rectangle(region).exterior.coords)
    sides = np.diff(ring[:3], axis=0)
    longest = sides[int(np.argmax(np.hypot(sides[:, 0], sides[:, 1])))]
    return float(np.arctan2(longest[1], longest[0]))


def plan_estates(
    rng: np.random.Generator, community: int, region: Polygon, is_village: bool
) -> list[EstatePlan]:
    """Place 2-5 estates in a community (0-1 in the village), as blocks between lanes.

    The community is cut into blocks (Voronoi cells of spread seeds); a random choice of them,
    each pulled in by half a lane, are the estates; the rest is left to streets and houses.
    """
    count = int(rng.integers(0, 2)) if is_village else int(rng.integers(2, 6))
    if count == 0:
        return []
    inner = largest_polygon(shapely.buffer(region, -COMMUNITY_MARGIN_M))
    share = rng.uniform(0.1, 0.2) if is_village else rng.uniform(0.7, 0.85)
    blocks_count = int(np.ceil(count / share))
    seeds = sample_points(rng, inner, blocks_count, 0.6 * np.sqrt(inner.area / blocks_count))
    blocks = voronoi_cells(relax(seeds, inner, rounds=2), inner)
    chosen = np.sort(rng.choice(blocks_count, size=count, replace=False))
    outlines = [
        shapely.normalize(largest_polygon(shapely.buffer(blocks[k], -ESTATE_GAP_M / 2)))
        for k in chosen
    ]
    kinds = _estate_kinds(rng, count, is_village)
    return [
        EstatePlan(community, outline, angle=main_direction(outline), kind=kind)
        for outline, kind in zip(outlines, kinds, strict=True)
    ]


def _estate_kinds(rng: np.random.Generator, count: int, is_village: bool) -> list[str]:
    """Kinds for ``count`` estates; the village's only estate is a resettlement block."""
    if is_village:
        return ["slab"] * count
    names = list(KIND_WEIGHTS)
    weights = np.array([KIND_WEIGHTS[k] for k in names])
    return [names[int(k)] for k in rng.choice(len(names), size=count, p=weights / weights.sum())]
