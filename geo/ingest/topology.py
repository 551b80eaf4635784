"""Checks between features: overlaps, gaps, parents, the street's extent, buildings in grids.

All are vectorised over shapely 2 arrays with an STRtree; areas are in m² (degrees² scaled
by :func:`geo.ingest.geometry.m2_per_deg2`).
"""

from __future__ import annotations

import logging

import geopandas as gpd
import numpy as np
import shapely
from numpy.typing import NDArray

from geo.ingest.geometry import (
    Features,
    ObjectArray,
    area_m2,
    m2_per_deg2,
    polygonal_parts,
    representative_point,
)
from geo.ingest.overlay import grid_shares
from geo.ingest.report import Finding

logger = logging.getLogger(__name__)

OVERLAP_M2 = 1.0
"""Grids (or communities) may overlap by this much: digitising noise, not a real overlap."""
GAP_M2 = 10.0
"""Uncovered parts of a community smaller than this are slivers, not gaps."""
OUTSIDE_PARENT_M2, OUTSIDE_PARENT_SHARE = 1.0, 0.001
"""A grid may stick out of its community by up to the larger of these (m², share of area)."""
STRADDLE_SHARE = 0.05
"""A building straddles grids when more than this share of it lies in a second grid."""
EXTENT_BUFFER_M = 500.0
"""Features are checked against the street's extent grown by this much."""


def _grow(geom: shapely.Geometry, metres: float) -> shapely.Geometry:
    """Buffer a WGS84 geometry by ``metres`` in a local equirectangular frame."""
    x0, y0, _, y1 = geom.bounds
    lat = (y0 + y1) / 2
    ky = float(np.sqrt(m2_per_deg2(lat) / np.cos(np.radians(lat))))  # ~ metres per degree
    kx = ky * float(np.cos(np.radians(lat)))
    local = shapely.transform(geom, lambda c: (c - [x0, y0]) * [kx, ky])
    return shapely.transform(local.buffer(metres, quad_segs=4), lambda c: c / [kx, ky] + [x0, y0])


def check_extent(features: Features, extent: shapely.Geometry) -> list[Finding]:
    """Features outside the street's extent (error) or partly outside (warning)."""
    grown = _grow(extent, EXTENT_BUFFER_M)
    shapely.prepare(grown)
    rows = np.flatnonzero(features.usable)
    geoms = features.geoms[rows]
    inside = shapely.covers(grown, geoms)
    touching = shapely.intersects(grown, geoms[~inside])
    findings = []
    for i, touches in zip(rows[~inside], touching, strict=True):
        if touches:
            findings.append(features.finding(
                "warning", "extent_partly_outside", int(i), f"{features.label(i)} lies partly "
                f"outside the street (by more than {EXTENT_BUFFER_M:.0f} m).",
                _point(shapely.difference(features.geoms[i], grown))))
        else:
            findings.append(features.finding(
                "error", "extent_outside", int(i), f"{features.label(i)} lies outside the "
                "street; check the file is this street's and its CRS (a GCJ-02 file read as "
                "WGS84 is ~500 m off: --crs gcj02)."))
    return findings


def check_overlaps(features: Features) -> list[Finding]:
    """Pairs of features overlapping by more than OVERLAP_M2 (error naming both)."""
    rows = np.flatnonzero(features.usable)
    geoms = features.geoms[rows]
    a, b = shapely.STRtree(geoms).query(geoms, predicate="intersects")
    keep = a < b
    a, b = a[keep], b[keep]
    shared = shapely.intersection(geoms[a], geoms[b])
    areas = area_m2(shared)
    findings = []
    for k in np.flatnonzero(areas > OVERLAP_M2):
        i, j = rows[a[k]], rows[b[k]]
        findings.append(features.finding(
            "error", "overlap", int(i), f"{features.label(i)} and {features.label(j)} overlap "
            f"by {areas[k]:,.1f} m².", _point(shared[k])))
    return findings


def check_parents(features: Features, codes: NDArray[np.object_],
                  parents: gpd.GeoDataFrame) -> list[Finding]:
    """Each grid names a known community and lies within it (beyond a small tolerance)."""
    lookup = {code: k for k, code in enumerate(parents["code"].astype(str))}
    parent_geoms = np.asarray(parents.geometry.array, dtype=object)
    index = np.array([lookup.get(c, -1) if c is not None else -1 for c in codes])
    findings = []
    for i in np.flatnonzero(index < 0):
        what = (f"names community {codes[i]}, which is not among the {len(parents)} "
                "communities" if codes[i] is not None else "names no community")
        check = "parent_unknown" if codes[i] is not None else "parent_missing"
        findings.append(features.finding("error", check, int(i), f"{features.label(i)} {what}."))
    rows = np.flatnonzero(features.usable & (index >= 0))
    rows = rows[~shapely.covered_by(features.geoms[rows], parent_geoms[index[rows]])]
    outside = shapely.difference(features.geoms[rows], parent_geoms[index[rows]])
    out_m2, own_m2 = area_m2(outside), area_m2(features.geoms[rows])
    for k in np.flatnonzero(out_m2 > np.maximum(OUTSIDE_PARENT_M2, OUTSIDE_PARENT_SHARE * own_m2)):
        i = rows[k]
        findings.append(features.finding(
            "error", "outside_parent", int(i), f"{features.label(i)} sticks out of its "
            f"community {codes[i]} by {out_m2[k]:,.1f} m² ({out_m2[k] / own_m2[k]:.1%} of "
            "its area).", _point(outside[k])))
    return findings


def check_gaps(features: Features, communities: gpd.GeoDataFrame) -> list[Finding]:
    """Parts of each community larger than GAP_M2 that no grid covers (warning each)."""
    covered = shapely.union_all(features.geoms[features.usable])
    community_geoms = np.asarray(communities.geometry.array, dtype=object)
    gaps = shapely.difference(community_geoms, covered)
    parts, index = shapely.get_parts(polygonal_parts(gaps), return_index=True)
    areas = area_m2(parts)
    codes = communities["code"].astype(str).to_numpy()
    findings = []
    for k in np.flatnonzero(areas > GAP_M2):
        lon, lat = representative_point(parts[k])
        findings.append(Finding(
            "warning", "gap", None, f"community {codes[index[k]]} has {areas[k]:,.1f} m² that "
            "no grid covers.", lon, lat))
    return findings


def check_buildings(features: Features, grids: gpd.GeoDataFrame,
                    ) -> tuple[list[Finding], ObjectArray]:
    """Buildings in no grid, or straddling two; returns the findings and each one's grid code.

    The grid code is the grid holding the largest share of the footprint (None if none).
    """
    grid_geoms = _valid_polygons(np.asarray(grids.geometry.array, dtype=object))
    grid_codes = grids["code"].astype(str).to_numpy(dtype=object)
    rows = np.flatnonzero(features.usable)
    footprint, grid, share = grid_shares(features.geoms[rows], grid_geoms)
    first = np.flatnonzero(np.r_[True, footprint[1:] != footprint[:-1]]) if len(footprint) \
        else np.zeros(0, dtype=np.int64)
    best = np.full(len(rows), -1)
    best[footprint[first]] = grid[first]
    second = first + 1
    paired = second < len(footprint)
    paired[paired] &= footprint[second[paired]] == footprint[first[paired]]
    straddling = first[paired][share[second[paired]] > STRADDLE_SHARE]
    findings = features.findings("warning", "building_straddles", rows[footprint[straddling]], [
        f"{features.label(rows[footprint[k]])} straddles grids {grid_codes[grid[k]]} "
        f"({share[k]:.0%}) and {grid_codes[grid[k + 1]]} ({share[k + 1]:.0%}); it goes to "
        f"{grid_codes[grid[k]]}." for k in straddling])
    alone = rows[best < 0]
    findings += features.findings("warning", "building_no_grid", alone, [
        f"{features.label(i)} lies in no grid; it stays unassigned until a grid covers it."
        for i in alone])
    codes = np.full(len(features.geoms), None, dtype=object)
    codes[rows[best >= 0]] = grid_codes[best[best >= 0]]
    return findings, codes


def _valid_polygons(geoms: ObjectArray) -> ObjectArray:
    """Grids as valid polygons (those from the database are; repair any that are not)."""
    invalid = ~shapely.is_valid(geoms)
    if invalid.any():
        geoms = geoms.copy()
        geoms[invalid] = polygonal_parts(shapely.make_valid(geoms[invalid]))
    present = ~shapely.is_missing(geoms)
    out = np.full(len(geoms), shapely.Polygon(), dtype=object)
    out[present] = geoms[present]
    return out


def _point(geom: shapely.Geometry) -> tuple[float, float] | None:
    lon, lat = representative_point(geom)
    return None if lon is None or lat is None else (lon, lat)

