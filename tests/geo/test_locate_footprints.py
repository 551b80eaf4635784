"""The one-point footprint lookup (numba kernel, GEOS near edges) answers as the batch one
(GEOS throughout): the covering footprint of lowest code, else the nearest within the radius."""

from __future__ import annotations

import math

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from shapely import box

from data.beigan import generate
from geo.locator import BuildingIndex

METRIC = "EPSG:4549"
RADIUS_M = 30.0


@pytest.fixture(scope="module")
def footprints() -> gpd.GeoDataFrame:
    """The demo's footprints, plus a courtyard block (a hole), a two-part building and two
    identical footprints (a tie the lowest code wins)."""
    demo = generate().buildings[["code", "name", "address", "geometry"]].head(3000)
    lon, lat = 120.300, 30.200
    courtyard = box(lon, lat, lon + 4e-4, lat + 4e-4).difference(
        box(lon + 1e-4, lat + 1e-4, lon + 3e-4, lat + 3e-4))
    two_parts = shapely.MultiPolygon([box(lon + 6e-4, lat, lon + 7e-4, lat + 1e-4),
                                      box(lon + 8e-4, lat, lon + 9e-4, lat + 1e-4)])
    twin = box(lon, lat + 6e-4, lon + 1e-4, lat + 7e-4)
    extra = gpd.GeoDataFrame({"code": ["Z-COURT", "Z-PARTS", "Z-TWIN-B", "Z-TWIN-A"],
                              "name": ["院", "两栋", "乙", "甲"], "address": [None] * 4},
                             geometry=[courtyard, two_parts, twin, twin], crs=4326)
    return gpd.GeoDataFrame(pd.concat([demo, extra], ignore_index=True), crs=4326)


@pytest.fixture(scope="module")
def index(footprints: gpd.GeoDataFrame) -> BuildingIndex:
    return BuildingIndex(footprints, radius_m=RADIUS_M, metric_crs=METRIC)


def probe_points(footprints: gpd.GeoDataFrame, seed: int) -> np.ndarray:
    """Vertices, edge midpoints, points a hair off edges, and random points around."""
    rng = np.random.default_rng(seed)
    rings = shapely.get_rings(shapely.get_parts(footprints.geometry.values))
    coords, ring = shapely.get_coordinates(rings, return_index=True)
    same = np.flatnonzero(ring[:-1] == ring[1:])
    start, end = coords[same], coords[same + 1]
    pick = rng.choice(len(start), 3000, replace=False)
    hair = rng.normal(0, 1e-9, (3000, 2))
    west, south, east, north = footprints.total_bounds
    uniform = np.column_stack([rng.uniform(west, east, 6000), rng.uniform(south, north, 6000)])
    near = start[pick] + rng.uniform(0, 1, (3000, 1)) * (end[pick] - start[pick]) \
        + rng.normal(0, 2e-4, (3000, 2))
    return np.concatenate([start[pick], (start[pick] + end[pick]) / 2,
                           (start[pick] + end[pick]) / 2 + hair, uniform, near,
                           [[120.3002, 30.2002], [120.3000, 30.2006], [120.30085, 30.20005]]])


def test_one_point_at_a_time_answers_as_the_batch(footprints: gpd.GeoDataFrame,
                                                  index: BuildingIndex) -> None:
    points = probe_points(footprints, seed=3)
    rows, metres = index.locate(points[:, 0], points[:, 1])
    one = [index.locate_point(float(x), float(y)) for x, y in points]
    assert [row for row, _ in one] == rows.tolist()
    for (_, got), expected in zip(one, metres.tolist(), strict=True):
        assert (math.isnan(got) and math.isnan(expected)) or got == pytest.approx(expected,
                                                                                 abs=1e-9)
    assert (rows >= 0).mean() > 0.5 and ((rows >= 0) & (metres > 0)).any()  # both kinds seen


def test_holes_parts_and_ties(footprints: gpd.GeoDataFrame, index: BuildingIndex) -> None:
    codes = footprints["code"].tolist()
    in_courtyard = index.locate_point(120.3002, 30.2002)  # in the hole: 1e-4 deg from the ring
    assert codes[in_courtyard[0]] == "Z-COURT" and 9 < in_courtyard[1] < 10
    between_parts = index.locate_point(120.30075, 30.20005)
    assert codes[between_parts[0]] == "Z-PARTS" and between_parts[1] > 0
    assert codes[index.locate_point(120.30005, 30.20065)[0]] == "Z-TWIN-A"  # the lower code
    assert index.locate_point(120.40, 30.30) == (-1, pytest.approx(math.nan, nan_ok=True))
