"""The in-memory grid index answers exactly as GEOS does, point by point (no database)."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pyproj
import pytest
import shapely
from numpy.typing import NDArray
from shapely import box

from bench.locate_bulk import voronoi_grids
from data.beigan import generate
from geo.errors import InvalidInput
from geo.locate_index import GridIndex, LocateResult

METRIC = "EPSG:4549"
TOLERANCE_M = 5.0
RADIUS_M = 200.0
TO_METRIC = pyproj.Transformer.from_crs("EPSG:4326", METRIC, always_xy=True)


def brute_force(grids: gpd.GeoDataFrame, lon: NDArray[np.float64],
                lat: NDArray[np.float64]) -> LocateResult:
    """The rules, evaluated the slow way: GEOS covers on every grid near the point, GEOS
    distance in the metric CRS to every grid for the points no grid covers."""
    geoms = np.asarray(grids.geometry.values, dtype=object)
    codes = grids["code"].to_numpy()
    metric = np.asarray(grids.to_crs(METRIC).geometry.values, dtype=object)
    points = shapely.points(lon, lat)
    x, y = TO_METRIC.transform(lon, lat)
    points_m = shapely.points(x, y)
    n = len(lon)
    grid = np.full(n, -1, np.int32)
    i, j = shapely.STRtree(geoms).query(points)  # bounding boxes only: all that may cover
    hit = shapely.covers(geoms[j], points[i])
    for p, g in zip(i[hit], j[hit], strict=True):
        if grid[p] < 0 or codes[g] < codes[grid[p]]:
            grid[p] = g
    covered = grid >= 0
    distance = np.where(covered, 0.0, np.nan)
    on_boundary = np.zeros(n, bool)
    inside = np.flatnonzero(covered)
    on_boundary[inside] = shapely.distance(points_m[inside],
                                           shapely.boundary(metric[grid[inside]])) <= TOLERANCE_M
    for p in np.flatnonzero(~covered):
        d = shapely.distance(points_m[p], metric)
        if d.min() <= RADIUS_M:
            ties = np.flatnonzero(d == d.min())
            grid[p] = ties[np.argmin(codes[ties])]
            distance[p] = d.min()
    return LocateResult(grid, ~covered, distance, on_boundary)


def assert_same(found: LocateResult, expected: LocateResult) -> None:
    np.testing.assert_array_equal(found.grid, expected.grid)
    np.testing.assert_array_equal(found.outside_coverage, expected.outside_coverage)
    np.testing.assert_array_equal(found.on_boundary, expected.on_boundary)
    np.testing.assert_allclose(found.distance_m, expected.distance_m, rtol=0, atol=1e-6)


def build(grids: gpd.GeoDataFrame, **options: object) -> GridIndex:
    return GridIndex.build(grids, boundary_tolerance_m=TOLERANCE_M, outside_radius_m=RADIUS_M,
                           metric_crs=METRIC, **options)  # type: ignore[arg-type]


def frame(shapes: dict[str, shapely.Geometry]) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({"code": list(shapes)}, geometry=list(shapes.values()),
                            crs="EPSG:4326")


def locate_one(index: GridIndex, lon: float, lat: float) -> tuple[str | None, bool, float, bool]:
    """(code, outside_coverage, distance_m, on_boundary) of one point."""
    r = index.locate(np.array([lon]), np.array([lat]))
    return (index.codes(r.grid)[0], bool(r.outside_coverage[0]), float(r.distance_m[0]),
            bool(r.on_boundary[0]))


def metric_offset(lon: float, lat: float, dx: float, dy: float) -> tuple[float, float]:
    """The WGS84 point (dx, dy) metres away from (lon, lat) in the metric CRS."""
    x, y = TO_METRIC.transform(lon, lat)
    out = TO_METRIC.transform(x + dx, y + dy, direction="INVERSE")
    return float(out[0]), float(out[1])


@pytest.fixture(scope="module")
def beigan() -> gpd.GeoDataFrame:
    return generate().grids


@pytest.fixture(scope="module")
def beigan_index(beigan: gpd.GeoDataFrame) -> GridIndex:
    return build(beigan, generation=7)


def edges(grids: gpd.GeoDataFrame) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Start and end of every edge of every ring of ``grids``."""
    rings = shapely.get_rings(shapely.get_parts(grids.geometry.values))
    coords, ring = shapely.get_coordinates(rings, return_index=True)
    same = np.flatnonzero(ring[:-1] == ring[1:])
    return coords[same], coords[same + 1]


def near_edges(grids: gpd.GeoDataFrame, n: int, rng: np.random.Generator) -> tuple[
        NDArray[np.float64], NDArray[np.float64]]:
    """Points on random grid edges, moved 1e-7 to 1e-3 degrees in a random direction."""
    start, end = edges(grids)
    pick = rng.integers(0, len(start), n)
    t = rng.uniform(0, 1, (n, 1))
    on_edge = start[pick] + t * (end[pick] - start[pick])
    size = 10.0 ** rng.uniform(-7, -3, (n, 1))
    angle = rng.uniform(0, 2 * np.pi, (n, 1))
    moved = on_edge + size * np.hstack([np.cos(angle), np.sin(angle)])
    return moved[:, 0], moved[:, 1]


def random_points(grids: gpd.GeoDataFrame, n: int, seed: int) -> tuple[
        NDArray[np.float64], NDArray[np.float64]]:
    """n points: two thirds uniform over the extent padded by ~300 m, a third near edges."""
    rng = np.random.default_rng(seed)
    west, south, east, north = grids.total_bounds
    pad = 0.003
    uniform = n - n // 3
    lon = rng.uniform(west - pad, east + pad, uniform)
    lat = rng.uniform(south - pad, north + pad, uniform)
    near_lon, near_lat = near_edges(grids, n // 3, rng)
    return np.concatenate([lon, near_lon]), np.concatenate([lat, near_lat])


def test_points_inside_land_in_their_grid(beigan: gpd.GeoDataFrame,
                                          beigan_index: GridIndex) -> None:
    inside = shapely.point_on_surface(beigan.geometry.values)
    lon, lat = shapely.get_x(inside), shapely.get_y(inside)
    found = beigan_index.locate(lon, lat)
    np.testing.assert_array_equal(found.grid, np.arange(len(beigan)))
    assert not found.outside_coverage.any()
    assert (found.distance_m == 0).all()
    assert list(beigan_index.codes(found.grid)) == list(beigan["code"])
    assert_same(found, brute_force(beigan, lon, lat))


def test_generation_and_attributes_are_kept(beigan: gpd.GeoDataFrame,
                                            beigan_index: GridIndex) -> None:
    assert beigan_index.generation == 7
    assert list(beigan_index.grids.columns) == list(beigan.columns)
    assert beigan_index.codes(np.array([-1, 0]))[0] is None


@pytest.mark.parametrize("shared_by", [2, 3])
def test_a_shared_vertex_belongs_to_the_lowest_code(beigan: gpd.GeoDataFrame,
                                                    beigan_index: GridIndex,
                                                    shared_by: int) -> None:
    parts = [np.unique(shapely.get_coordinates(g), axis=0) for g in beigan.geometry.values]
    every = np.concatenate(parts)
    grid_of = np.repeat(np.arange(len(parts)), [len(p) for p in parts])
    vertices, inverse, counts = np.unique(every, axis=0, return_inverse=True,
                                          return_counts=True)
    chosen = np.flatnonzero(counts == shared_by)[:40]
    assert chosen.size, f"the demo has no vertex shared by {shared_by} grids"
    codes = beigan["code"].to_numpy()
    found = beigan_index.locate(vertices[chosen, 0], vertices[chosen, 1])
    for n, v in enumerate(chosen):
        assert found.grid[n] >= 0 and found.on_boundary[n] and not found.outside_coverage[n]
        assert codes[found.grid[n]] == min(codes[grid_of[inverse.ravel() == v]])
    assert_same(found, brute_force(beigan, vertices[chosen, 0], vertices[chosen, 1]))


def test_a_point_on_a_shared_edge_belongs_to_the_lowest_code() -> None:
    index = build(frame({"G-west": box(120.5, 30.5, 120.51, 30.51),
                         "G-east": box(120.51, 30.5, 120.52, 30.51)}))
    assert locate_one(index, 120.51, 30.505) == ("G-east", False, 0.0, True)
    assert locate_one(index, 120.505, 30.505) == ("G-west", False, 0.0, False)


def test_a_vertex_where_three_grids_meet_belongs_to_the_lowest_code() -> None:
    grids = frame({"G2": box(120.50, 30.50, 120.51, 30.51),
                   "G3": box(120.51, 30.50, 120.52, 30.51),
                   "G1": box(120.50, 30.51, 120.52, 30.52)})
    index = build(grids)
    assert locate_one(index, 120.51, 30.51) == ("G1", False, 0.0, True)
    assert locate_one(index, 120.51, 30.505)[0] == "G2"
    lon = np.array([120.51, 120.51, 120.50, 120.52, 120.515])
    lat = np.array([30.51, 30.50, 30.51, 30.51, 30.51])
    assert_same(index.locate(lon, lat), brute_force(grids, lon, lat))


def holes() -> gpd.GeoDataFrame:
    ring = box(120.5, 30.5, 120.51, 30.51).difference(box(120.504, 30.504, 120.506, 30.506))
    donut = box(120.52, 30.5, 120.53, 30.51).difference(box(120.524, 30.504, 120.526, 30.506))
    return frame({"ring": ring, "island": box(120.504, 30.504, 120.506, 30.506),
                  "donut": donut})


def test_holes() -> None:
    grids = holes()
    index = build(grids)
    assert locate_one(index, 120.505, 30.505) == ("island", False, 0.0, False)
    assert locate_one(index, 120.504, 30.505)[::3] == ("island", True)  # island < ring
    code, outside, distance, on_boundary = locate_one(index, 120.525, 30.505)
    assert (code, outside, on_boundary) == ("donut", True, False)
    assert distance == pytest.approx(95.9, abs=1.0)
    lon = np.array([120.505, 120.504, 120.525, 120.5245, 120.5241])
    lat = np.full(5, 30.505)
    assert_same(index.locate(lon, lat), brute_force(grids, lon, lat))


def test_outside_coverage_within_and_beyond_the_radius() -> None:
    grids = frame({"G-west": box(120.5, 30.5, 120.51, 30.51),
                   "G-east": box(120.51, 30.5, 120.52, 30.51)})
    index = build(grids)
    near = metric_offset(120.52, 30.505, 100.0, 0.0)
    code, outside, distance, on_boundary = locate_one(index, *near)
    assert (code, outside, on_boundary) == ("G-east", True, False)
    assert distance == pytest.approx(100.0, abs=0.5)
    far = metric_offset(120.52, 30.505, 300.0, 0.0)
    code, outside, distance, _ = locate_one(index, *far)
    assert code is None and outside and np.isnan(distance)
    # Equally far from both grids (below their shared corner): the lowest code.
    below = metric_offset(120.51, 30.5, 0.0, -50.0)
    lon, lat = np.array([near[0], far[0], below[0]]), np.array([near[1], far[1], below[1]])
    assert_same(index.locate(lon, lat), brute_force(grids, lon, lat))


@pytest.mark.parametrize(("inward_m", "expected"), [(1.0, True), (10.0, False)])
def test_on_boundary_within_the_tolerance(beigan: gpd.GeoDataFrame, beigan_index: GridIndex,
                                          inward_m: float, expected: bool) -> None:
    metric = beigan.to_crs(METRIC).geometry.values
    row = int(np.argmax(shapely.area(metric)))
    ring = shapely.get_coordinates(shapely.get_exterior_ring(shapely.get_geometry(metric[row],
                                                                                  0)))
    lengths = np.hypot(*np.diff(ring, axis=0).T)
    k = int(np.argmax(lengths))
    (ax, ay), (bx, by) = ring[k], ring[k + 1]
    mid = np.array([(ax + bx) / 2, (ay + by) / 2])
    normal = np.array([-(by - ay), bx - ax]) / lengths[k]
    for sign in (1.0, -1.0):
        x, y = mid + sign * inward_m * normal
        if shapely.covers(metric[row], shapely.Point(x, y)):
            break
    lon, lat = TO_METRIC.transform(x, y, direction="INVERSE")
    found = beigan_index.locate(np.array([lon]), np.array([lat]))
    assert found.grid[0] == row and bool(found.on_boundary[0]) is expected
    assert_same(found, brute_force(beigan, np.array([lon]), np.array([lat])))


@pytest.mark.parametrize(("lon", "lat", "field", "row"), [
    ([120.27, np.nan], [30.18, 30.18], "lon", 1),
    ([120.27, 120.27, 120.27], [30.18, 30.18, np.inf], "lat", 2),
    ([-np.inf], [np.nan], "lon", 0),
])
def test_non_finite_coordinates_are_refused(beigan_index: GridIndex, lon: list[float],
                                            lat: list[float], field: str, row: int) -> None:
    with pytest.raises(InvalidInput) as refused:
        beigan_index.locate(np.array(lon), np.array(lat))
    assert refused.value.field == field
    assert f"row {row}" in refused.value.detail


def test_bad_grids_are_refused() -> None:
    with pytest.raises(InvalidInput) as twice:
        build(frame({"A": box(0, 0, 1, 1)}).pipe(lambda f: gpd.GeoDataFrame(
            {"code": ["A", "A"]}, geometry=[box(0, 0, 1, 1), box(1, 0, 2, 1)], crs=f.crs)))
    assert twice.value.field == "code"
    bowtie = shapely.Polygon([(0, 0), (1, 1), (1, 0), (0, 1)])
    with pytest.raises(InvalidInput) as invalid:
        build(frame({"A": box(0, 0, 1, 1), "B": bowtie}))
    assert invalid.value.field == "geometry"


def test_random_points_agree_with_brute_force_on_the_demo(beigan: gpd.GeoDataFrame,
                                                          beigan_index: GridIndex) -> None:
    lon, lat = random_points(beigan, 100_000, seed=11)
    expected = brute_force(beigan, lon, lat)
    assert expected.outside_coverage.mean() > 0.02 and expected.on_boundary.mean() > 0.05
    assert_same(beigan_index.locate(lon, lat), expected)


def test_vertices_and_edge_midpoints_agree_with_brute_force(beigan: gpd.GeoDataFrame,
                                                            beigan_index: GridIndex) -> None:
    start, end = edges(beigan)
    points = np.concatenate([start, (start + end) / 2, start + (end - start) / 3])
    found = beigan_index.locate(points[:, 0], points[:, 1])
    assert_same(found, brute_force(beigan, points[:, 0], points[:, 1]))


def test_one_point_at_a_time_answers_as_the_batch(beigan: gpd.GeoDataFrame,
                                                  beigan_index: GridIndex) -> None:
    """``locate_one`` (the API's path, pure cells answered without the kernel) is ``locate``."""
    lon, lat = random_points(beigan, 5_000, seed=13)
    start, _ = edges(beigan)
    lon = np.concatenate([lon, start[:500, 0], [0.0, 179.9, beigan.total_bounds[0] - 0.1]])
    lat = np.concatenate([lat, start[:500, 1], [0.0, 89.9, beigan.total_bounds[1]]])
    batch = beigan_index.locate(lon, lat)
    one = [beigan_index.locate_one(float(x), float(y)) for x, y in zip(lon, lat, strict=True)]
    grid, outside, distance, on_boundary = (np.array(column) for column in zip(*one, strict=True))
    np.testing.assert_array_equal(grid, batch.grid)
    np.testing.assert_array_equal(outside, batch.outside_coverage)
    np.testing.assert_array_equal(on_boundary, batch.on_boundary)
    np.testing.assert_array_equal(distance, batch.distance_m)  # NaN where not covered


def test_random_points_agree_with_brute_force_on_a_voronoi_partition() -> None:
    grids = voronoi_grids(300, (120.20, 30.10, 120.26, 30.15), seed=3)
    index = build(grids, cells_per_grid=64)
    lon, lat = random_points(grids, 30_000, seed=5)
    assert_same(index.locate(lon, lat), brute_force(grids, lon, lat))


def test_overlapping_and_multipart_grids_agree_with_brute_force() -> None:
    two_parts = shapely.MultiPolygon([box(120.50, 30.50, 120.51, 30.51),
                                      box(120.51, 30.51, 120.52, 30.52)])  # touch at a corner
    grids = frame({"M": two_parts, "B": box(120.505, 30.505, 120.515, 30.515),
                   "A": box(120.508, 30.50, 120.52, 30.508),
                   "C": shapely.Polygon([(120.50, 30.52), (120.52, 30.515), (120.51, 30.53)])})
    index = build(grids, cells_per_grid=16)
    rng = np.random.default_rng(9)
    lon = np.concatenate([rng.uniform(120.495, 120.525, 20_000), [120.51, 120.505, 120.515]])
    lat = np.concatenate([rng.uniform(30.495, 30.535, 20_000), [30.51, 30.505, 30.515]])
    assert_same(index.locate(lon, lat), brute_force(grids, lon, lat))


def test_no_points_no_answers(beigan_index: GridIndex) -> None:
    found = beigan_index.locate(np.array([]), np.array([]))
    assert len(found) == 0 and found.grid.dtype == np.int32
