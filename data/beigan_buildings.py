"""Building footprints for the Beigan demo, laid out on rotated lattices in local metres.

Each estate, and the rest of each grid, is filled from its own lattice: a footprint stays
inside its lattice cell with a gap, so footprints of one lattice never overlap; lattices never
overlap either, because each one only keeps footprints a margin inside its own estate, or
inside its own grid and clear of every estate.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import shapely
from numpy.typing import NDArray
from shapely.geometry.base import BaseGeometry

from data.beigan_estates import EstatePlan, main_direction

logger = logging.getLogger(__name__)

GRID_MARGIN_M = 3.0
"""Least distance between a footprint and its grid's boundary."""
ESTATE_MARGIN_M = 4.0
"""Least distance between a footprint and its estate's boundary (inside or out)."""
MIN_GAP_M = 4.0
"""Least distance between two footprints of one lattice."""
HIGH_RISE_M = 27.0
"""Residential buildings taller than this are high-rise (GB 50016)."""


@dataclass(frozen=True)
class Style:
    """How one kind of block is built: lattice pitch and footprint sizes, in metres."""

    pitch: tuple[float, float]
    length: tuple[float, float]
    depth: tuple[float, float]
    l_share: float
    occupancy: float

    def __post_init__(self) -> None:
        for pitch, (_, largest) in zip(self.pitch, (self.length, self.depth), strict=True):
            if largest > pitch - MIN_GAP_M:
                raise ValueError(f"footprints up to {largest} m do not fit a {pitch} m pitch")


STYLES = {
    "tower": Style((44, 37), (28, 36), (16, 20), l_share=0.3, occupancy=1.0),
    "slab": Style((58, 26), (38, 50), (10.5, 13), l_share=0.1, occupancy=1.0),
    "villa": Style((26, 28), (15, 20), (11, 14), l_share=0.3, occupancy=1.0),
    "house": Style((17, 19), (10, 12.5), (10, 11.5), l_share=0.0, occupancy=0.92),
    "street": Style((25, 26), (11, 19), (10, 17), l_share=0.3, occupancy=0.88),
    "campus": Style((76, 64), (30, 68), (24, 52), l_share=0.4, occupancy=0.75),
}
SHIFTS = ((0.0, 0.0), (0.5, 0.0), (0.0, 0.5), (0.5, 0.5))
"""Lattice offsets tried for each block, in cells."""
URBAN_BLOCKS = {"street": 0.5, "campus": 0.1, "house": 0.4}
VILLAGE_BLOCKS = {"house": 0.9, "street": 0.1}


def lattice(
    region: BaseGeometry, angle: float, pitch: tuple[float, float], shift: tuple[float, float]
) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    """Cell centres of a lattice turned by ``angle`` over ``region``, with (row, col) indices.

    The lattice starts at the region's centroid, moved by ``shift`` cells.
    """
    c, s = np.cos(angle), np.sin(angle)
    to_local = np.array([[c, -s], [s, c]])
    origin = np.array(region.centroid.coords[0]) + (np.multiply(shift, pitch) @ to_local.T)
    local = (shapely.get_coordinates(region) - origin) @ to_local
    lo = np.floor(local.min(axis=0) / pitch).astype(int)
    hi = np.ceil(local.max(axis=0) / pitch).astype(int)
    cols, rows = np.meshgrid(np.arange(lo[0], hi[0]), np.arange(lo[1], hi[1]))
    index = np.column_stack([rows.ravel(), cols.ravel()])
    centres = (index[:, ::-1] + 0.5) * pitch
    return centres @ to_local.T + origin, index


def footprints(
    rng: np.random.Generator, centres: NDArray[np.float64], angle: float, style: Style
) -> NDArray[np.object_]:
    """Rectangles and L-shapes, one per cell, each a ``MIN_GAP_M`` clear of its cell's edges."""
    n = len(centres)
    size = np.column_stack([rng.uniform(*style.length, n), rng.uniform(*style.depth, n)])
    slack = np.maximum(np.asarray(style.pitch) - size - MIN_GAP_M, 0.0) / 2
    centre = rng.uniform(-1.0, 1.0, (n, 2)) * slack
    notch = rng.uniform(0.3, 0.45, (n, 2)) * size
    mirror = rng.choice([-1.0, 1.0], size=(n, 1, 2))
    is_l = (rng.uniform(size=n) < style.l_share) & (size.min(axis=1) >= 16.0)
    half = size[:, None, :] / 2
    rect = np.array([(-1, -1), (1, -1), (1, 1), (-1, 1), (-1, -1)]) * half
    ell = np.array([(-1, -1), (1, -1), (1, 1), (1, 1), (1, 1), (-1, 1), (-1, -1)]) * half
    ell[:, 2, 1] -= notch[:, 1]
    ell[:, 3] -= notch
    ell[:, 4, 0] -= notch[:, 0]
    c, s = np.cos(angle), np.sin(angle)
    turn = np.array([[c, s], [-s, c]])

    def place(ring: NDArray[np.float64]) -> NDArray[np.object_]:
        return shapely.polygons((ring * mirror + centre[:, None, :]) @ turn + centres[:, None, :])

    return np.where(is_l, place(ell), place(rect))


def storeys(
    rng: np.random.Generator, kind: str, n: int
) -> tuple[NDArray[np.int64], NDArray[np.str_]]:
    """Floors above ground and use for ``n`` buildings of one block kind."""
    use = np.full(n, "residential", dtype=object)
    if kind == "tower":
        base = int(rng.choice([11, 15, 18, 24, 26, 28, 30, 32, 33]))
        floors = np.clip(base + rng.integers(-2, 3, n), 10, 33)
        use[rng.uniform(size=n) < 0.06] = "mixed"
    elif kind == "slab":
        floors = rng.choice([5, 6, 6, 6, 7, 8, 9], n)
    elif kind == "villa":
        floors = rng.integers(2, 4, n)
    elif kind == "house":
        floors = rng.choice([1, 2, 3, 4, 5], n, p=[0.03, 0.27, 0.4, 0.25, 0.05])
        use[rng.uniform(size=n) < 0.1] = "mixed"
    else:  # "street" shops and flats, or a "campus" of schools, clinics and offices
        street = kind == "street"
        use = rng.choice(["mixed", "residential", "public"], n, p=[0.45, 0.35, 0.2])
        if not street:
            use[:] = "public"
        floors = rng.integers(2, 8, n) if street else rng.integers(3, 7, n)
        tower = rng.uniform(size=n) < (0.03 if street else 0.12)
        floors[tower] = rng.integers(12 if street else 15, 31, tower.sum())
        use[tower] = rng.choice(["mixed", "public"], tower.sum())
    return floors.astype(np.int64), use.astype(object)


def heights(rng: np.random.Generator, floors: NDArray[np.int64]) -> NDArray[np.float64]:
    """Heights of 2.9-3.3 m a floor, to 0.1 m; low and mid-rise stay at or under 27 m."""
    tenths_max = np.where(floors >= 10, 33 * floors, np.minimum(33 * floors, 270))
    per_floor = rng.uniform(2.9, tenths_max / floors / 10)
    height = np.round(floors * per_floor, 1)
    return np.clip(height, 29 * floors / 10, tenths_max / 10)


def _block(rng: np.random.Generator, region: BaseGeometry, angle: float, kind: str) -> pd.DataFrame:
    """Candidate footprints of one lattice kept a margin inside ``region``.

    Four lattice offsets are tried, and the one that fits most footprints is kept.
    """
    style = STYLES[kind]
    shapely.prepare(region)
    best: pd.DataFrame | None = None
    for shift in SHIFTS:
        centres, index = lattice(region, angle, style.pitch, shift)
        shapes = footprints(rng, centres, angle, style)
        floors, use = storeys(rng, kind, len(shapes))
        built = rng.uniform(size=len(shapes)) < style.occupancy
        keep = built & shapely.contains_properly(region, shapes)
        if best is None or keep.sum() > len(best):
            best = pd.DataFrame(
                {
                    "footprint": shapes[keep],
                    "floors": floors[keep],
                    "height_m": heights(rng, floors)[keep],
                    "use": use[keep],
                    "kind": kind,
                    "row": index[keep, 0],
                    "col": index[keep, 1],
                }
            )
    assert best is not None
    return best


def estate_candidates(
    rng: np.random.Generator, plans: Sequence[EstatePlan], grids: NDArray[np.object_]
) -> pd.DataFrame:
    """Footprints filling each estate, one lattice per piece of estate in one grid."""
    inner_grids = shapely.buffer(grids, -GRID_MARGIN_M)
    tree = shapely.STRtree(inner_grids)
    blocks = []
    for k, plan in enumerate(plans):
        inner = shapely.buffer(plan.outline, -ESTATE_MARGIN_M)
        for g in np.sort(tree.query(inner, predicate="intersects")):
            piece = shapely.intersection(inner, inner_grids[g])
            if shapely.area(piece) < 100.0:
                continue
            block = _block(rng, piece, plan.angle, plan.kind)
            blocks.append(block.assign(estate=k, community=plan.community, grid=g))
    return pd.concat(blocks, ignore_index=True)


def grid_candidates(
    rng: np.random.Generator,
    grids: NDArray[np.object_],
    communities: NDArray[np.int64],
    village: int,
    plans: Sequence[EstatePlan],
) -> pd.DataFrame:
    """Footprints filling each grid outside the estates, one lattice per grid."""
    blocks = []
    for g, grid in enumerate(grids):
        weights = VILLAGE_BLOCKS if communities[g] == village else URBAN_BLOCKS
        kinds = list(weights)
        p = np.array([weights[k] for k in kinds])
        kind = kinds[int(rng.choice(len(kinds), p=p / p.sum()))]
        angle = main_direction(grid) + rng.normal(0.0, 0.05)
        inner = shapely.buffer(grid, -GRID_MARGIN_M)
        block = _block(rng, inner, angle, kind)
        blocks.append(block.assign(estate=-1, community=communities[g], grid=g))
    found = pd.concat(blocks, ignore_index=True)
    outlines = shapely.STRtree([plan.outline for plan in plans])
    near = outlines.query(found["footprint"].to_numpy(), "dwithin", distance=ESTATE_MARGIN_M)
    return found.drop(index=np.unique(near[0])).reset_index(drop=True)


def select(
    rng: np.random.Generator, found: pd.DataFrame, total: int, high_share: float
) -> pd.DataFrame:
    """Thin the candidates to ``total`` buildings with ``high_share`` of them high-rise.

    Estate buildings below high-rise are kept first; the rest is a seeded random choice.
    """
    high = found["height_m"].to_numpy() > HIGH_RISE_M
    in_estate = found["estate"].to_numpy() >= 0
    high_idx = np.flatnonzero(high)
    n_high = min(len(high_idx), round(total * high_share))
    chosen = [rng.choice(high_idx, n_high, replace=False)]
    low_estate, low_other = np.flatnonzero(~high & in_estate), np.flatnonzero(~high & ~in_estate)
    n_low = total - n_high
    chosen.append(low_estate[:n_low])
    n_other = min(max(n_low - len(low_estate), 0), len(low_other))
    chosen.append(rng.choice(low_other, n_other, replace=False))
    picked = np.sort(np.concatenate(chosen))
    if len(picked) < total or n_high < round(total * high_share):
        logger.warning("only %d buildings (%d high-rise) could be placed", len(picked), n_high)
    logger.info("kept %d of %d candidate buildings", len(picked), len(found))
    return found.iloc[picked].reset_index(drop=True)
