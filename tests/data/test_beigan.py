"""The synthetic Beigan demo: real codes, exact partitions and buildings where they belong."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from numpy.typing import NDArray
from pyproj import Transformer

from data.beigan import STREET_CODE, STREET_NAME, BeiganDemo, generate, read_communities

METRIC = "EPSG:32651"  # UTM 51N, for areas and distances
LAYERS = ("street", "communities", "grids", "estates", "buildings")
COLUMNS = {
    "street": ["code", "name", "district_code"],
    "communities": ["code", "name", "kind"],
    "grids": ["code", "name", "community_code", "officer_name", "officer_phone"],
    "estates": [
        "code",
        "name",
        "community_code",
        "property_company",
        "property_contact",
        "owners_committee",
    ],
    "buildings": [
        "code",
        "name",
        "address",
        "use",
        "height_m",
        "floors",
        "grid_code",
        "community_code",
        "estate_code",
    ],
}
VILLAGE_CODE = "330109002207"


@pytest.fixture(scope="module")
def demo() -> BeiganDemo:
    return generate()


def layer(demo: BeiganDemo, name: str) -> gpd.GeoDataFrame:
    frame: gpd.GeoDataFrame = getattr(demo, name)
    return frame


def interior_overlaps(geoms: NDArray[np.object_]) -> list[tuple[int, int]]:
    """Pairs of distinct geometries whose interiors meet."""
    left, right = shapely.STRtree(geoms).query(geoms, predicate="intersects")
    distinct = left < right
    left, right = left[distinct], right[distinct]
    meet = shapely.relate_pattern(geoms[left], geoms[right], "T********")
    return list(zip(left[meet].tolist(), right[meet].tolist(), strict=True))


def metric_area(geoms: gpd.GeoSeries) -> NDArray[np.float64]:
    return geoms.to_crs(METRIC).area.to_numpy()


def test_csv_holds_the_40_real_communities() -> None:
    reference = read_communities()
    assert list(reference.columns) == ["code", "name", "kind"]
    assert len(reference) == 40
    assert reference["kind"].value_counts().to_dict() == {"社区": 39, "村": 1}
    assert reference["code"].str.fullmatch(r"330109002\d{3}").all()
    assert reference["code"].is_unique
    rows = set(reference.itertuples(index=False, name=None))
    assert ("330109002041", "博学路社区", "社区") in rows
    assert ("330109002207", "荣庄村委会", "村") in rows


def test_communities_are_the_csv_communities(demo: BeiganDemo) -> None:
    got = pd.DataFrame(demo.communities[["code", "name", "kind"]])
    pd.testing.assert_frame_equal(got.reset_index(drop=True), read_communities())


def test_street_row(demo: BeiganDemo) -> None:
    assert len(demo.street) == 1
    row = demo.street.iloc[0]
    assert (row["code"], row["name"], row["district_code"]) == (STREET_CODE, STREET_NAME, "330109")


def test_same_seed_gives_identical_output(demo: BeiganDemo) -> None:
    again = generate()
    for name in LAYERS:
        first, second = layer(demo, name), layer(again, name)
        pd.testing.assert_frame_equal(
            pd.DataFrame(first.drop(columns="geometry")),
            pd.DataFrame(second.drop(columns="geometry")),
        )
        assert (
            shapely.to_wkb(first.geometry.values) == shapely.to_wkb(second.geometry.values)
        ).all()


def test_other_seed_gives_other_geometry(demo: BeiganDemo) -> None:
    other = generate(seed=7)
    assert not demo.street.geometry.iloc[0].equals(other.street.geometry.iloc[0])
    assert list(other.communities["code"]) == list(demo.communities["code"])


@pytest.mark.parametrize("name", LAYERS)
def test_layers_are_valid_multipolygons_in_wgs84(demo: BeiganDemo, name: str) -> None:
    frame = layer(demo, name)
    assert frame.crs == "EPSG:4326"
    assert frame.geometry.name == "geometry"
    assert list(frame.columns) == [*COLUMNS[name], "geometry"]
    assert (frame.geom_type == "MultiPolygon").all()
    assert frame.is_valid.all()
    assert frame["code"].is_unique


@pytest.mark.parametrize("name", ["street", "communities", "grids"])
def test_areas_are_single_polygons(demo: BeiganDemo, name: str) -> None:
    assert (shapely.get_num_geometries(layer(demo, name).geometry.values) == 1).all()


def test_extent_size_and_place(demo: BeiganDemo) -> None:
    street = demo.street.geometry
    assert 11e6 < metric_area(street)[0] < 13e6
    to_metric = Transformer.from_crs("EPSG:4326", METRIC, always_xy=True)
    centre = np.array(to_metric.transform(120.27, 30.18))
    centroid = street.to_crs(METRIC).centroid.iloc[0]
    assert np.hypot(centroid.x - centre[0], centroid.y - centre[1]) < 3000


@pytest.mark.parametrize("name", ["communities", "grids"])
def test_partitions_have_no_gaps_or_overlaps(demo: BeiganDemo, name: str) -> None:
    parts = layer(demo, name).geometry
    union = gpd.GeoSeries([shapely.union_all(parts.values)], crs=parts.crs)
    street = demo.street.geometry
    assert metric_area(parts).sum() == pytest.approx(metric_area(union)[0], rel=1e-6)
    assert metric_area(union)[0] == pytest.approx(metric_area(street)[0], rel=1e-6)
    gaps = shapely.symmetric_difference(union.iloc[0], street.iloc[0])
    assert metric_area(gpd.GeoSeries([gaps], crs=parts.crs))[0] < 1e-6 * metric_area(street)[0]
    assert interior_overlaps(parts.values) == []


def test_every_grid_is_covered_by_its_community(demo: BeiganDemo) -> None:
    grids = demo.grids
    communities = demo.communities.set_index("code").geometry
    assert (grids["code"].str[:12] == grids["community_code"]).all()
    owners = communities.loc[grids["community_code"]].values
    assert shapely.covers(owners, grids.geometry.values).all()
    assert shapely.covers(demo.street.geometry.iloc[0], demo.communities.geometry.values).all()


def test_each_community_has_6_to_15_numbered_grids(demo: BeiganDemo) -> None:
    for code, grids in demo.grids.groupby("community_code"):
        assert 6 <= len(grids) <= 15
        assert sorted(grids["code"]) == [f"{code}{k:03d}" for k in range(1, len(grids) + 1)]
    assert set(demo.grids["community_code"]) == set(demo.communities["code"])
    names = dict(zip(demo.communities["code"], demo.communities["name"], strict=True))
    first = demo.grids.iloc[0]
    assert first["name"] == f"{names[first['community_code']]}第1网格"


def test_people_and_phones_are_synthetic(demo: BeiganDemo) -> None:
    grids, estates = demo.grids, demo.estates
    assert grids["officer_name"].str.fullmatch(r"[\u4e00-\u9fff]{2,3}").all()
    phones = pd.concat([grids["officer_phone"], estates["property_contact"]])
    assert phones.str.fullmatch(r"1990000\d{4}").all()
    assert phones.is_unique


def test_estates_sit_inside_their_community(demo: BeiganDemo) -> None:
    estates = demo.estates
    counts = estates["community_code"].value_counts()
    towns = demo.communities.loc[demo.communities["code"] != VILLAGE_CODE, "code"]
    assert counts.reindex(towns, fill_value=0).between(2, 5).all()
    assert counts.get(VILLAGE_CODE, 0) <= 1
    assert estates["code"].str.fullmatch(r"330109002\d{3}E\d{2}").all()
    assert (estates["code"].str[:12] == estates["community_code"]).all()
    assert estates["name"].is_unique
    assert estates["property_company"].str.fullmatch(r".+物业(服务|管理)有限公司").all()
    owners = demo.communities.set_index("code").geometry.loc[estates["community_code"]].values
    assert shapely.covers(owners, estates.geometry.values).all()
    assert interior_overlaps(estates.geometry.values) == []


def test_building_count_and_high_rise_share(demo: BeiganDemo) -> None:
    buildings = demo.buildings
    assert 7500 <= len(buildings) <= 8500
    assert 0.20 <= (buildings["height_m"] > 27).mean() <= 0.30
    assert list(buildings["code"]) == [
        f"{STREET_CODE}B{k:05d}" for k in range(1, len(buildings) + 1)
    ]
    assert set(buildings["use"]) == {"residential", "public", "mixed"}


def test_floors_match_heights(demo: BeiganDemo) -> None:
    buildings = demo.buildings
    per_floor = buildings["height_m"] / buildings["floors"]
    assert per_floor.between(2.9 - 1e-9, 3.3 + 1e-9).all()
    assert (buildings["height_m"] == buildings["height_m"].round(1)).all()
    high = buildings["height_m"] > 27
    assert buildings.loc[~high, "floors"].between(1, 9).all()
    towers = buildings[high & (buildings["use"] == "residential")]
    assert towers["floors"].between(10, 33).all()
    assert buildings["height_m"].max() <= 110


def test_village_is_mostly_low_houses(demo: BeiganDemo) -> None:
    village = demo.buildings[demo.buildings["community_code"] == VILLAGE_CODE]
    assert len(village) > 100
    assert village["floors"].between(2, 4).mean() >= 0.7


def test_each_building_lies_inside_one_grid(demo: BeiganDemo) -> None:
    buildings, grids = demo.buildings, demo.grids
    shapes = buildings.geometry.values
    inside, grid = shapely.STRtree(grids.geometry.values).query(shapes, predicate="covered_by")
    assert np.array_equal(np.sort(inside), np.arange(len(buildings)))
    assert (grids["code"].to_numpy()[grid[np.argsort(inside)]] == buildings["grid_code"]).all()
    own_grid = grids.set_index("code").geometry.loc[buildings["grid_code"]].values
    assert shapely.contains_properly(own_grid, shapes).all()
    assert (buildings["grid_code"].str[:12] == buildings["community_code"]).all()
    own_community = demo.communities.set_index("code").geometry
    assert shapely.covers(own_community.loc[buildings["community_code"]].values, shapes).all()


def test_estate_code_set_iff_inside_that_estate(demo: BeiganDemo) -> None:
    buildings, estates = demo.buildings, demo.estates
    shapes = buildings.geometry.values
    tree = shapely.STRtree(estates.geometry.values)
    inside, estate = tree.query(shapes, predicate="covered_by")
    expected = pd.Series([None] * len(buildings), dtype=object)
    expected.iloc[inside] = estates["code"].to_numpy()[estate]
    assert buildings["estate_code"].tolist() == expected.tolist()
    touching, _ = tree.query(shapes, predicate="intersects")
    assert np.array_equal(np.sort(touching), np.sort(inside))


def test_buildings_do_not_overlap(demo: BeiganDemo) -> None:
    shapes = demo.buildings.geometry.values
    left, right = shapely.STRtree(shapes).query(shapes, predicate="intersects")
    assert (left == right).all()


def test_footprints_are_building_sized(demo: BeiganDemo) -> None:
    footprints = demo.buildings.geometry.to_crs(METRIC).values
    boxes = shapely.minimum_rotated_rectangle(footprints)
    corners = shapely.get_coordinates(shapely.get_exterior_ring(boxes)).reshape(-1, 5, 2)
    sides = np.hypot(*np.diff(corners[:, :3], axis=1).transpose(2, 0, 1))
    assert sides.min() > 9.5
    assert sides.max() < 80


def test_addresses_name_the_street(demo: BeiganDemo) -> None:
    buildings = demo.buildings
    assert buildings["address"].str.startswith("杭州市萧山区北干街道").all()
    assert (buildings.apply(lambda b: b["address"].endswith(b["name"]), axis=1)).all()
    in_estate = buildings.dropna(subset=["estate_code"])
    assert in_estate["name"].str.fullmatch(r".+\d+幢").all()
    assert buildings["address"].is_unique
