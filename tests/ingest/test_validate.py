"""Validation: the clean Beigan demo passes, and each broken variant names the feature at fault."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from shapely.geometry import GeometryCollection, LineString, MultiPolygon, Point, Polygon, box

from data.beigan import BeiganDemo
from geo.ingest.fields import normalise
from geo.ingest.overlay import grid_shares
from geo.ingest.read import read_layer
from geo.ingest.report import Finding, Report
from geo.ingest.validate import validate

# Writing the test files (Shapefiles cut long column names, files without a CRS) warns.
pytestmark = [pytest.mark.filterwarnings("ignore:Column names longer than 10 characters"),
              pytest.mark.filterwarnings("ignore:Normalized/laundered field name"),
              pytest.mark.filterwarnings("ignore:'crs' was not provided")]

M_LAT = 1 / 110_574  # degrees of latitude per metre
M_LON = 1 / (111_320 * np.cos(np.radians(30.18)))  # degrees of longitude per metre, Beigan


def local(points: list[tuple[float, float]], lon: float, lat: float) -> Polygon:
    """A polygon from metre offsets around (lon, lat)."""
    return Polygon([(lon + x * M_LON, lat + y * M_LAT) for x, y in points])


def found(report: Report, check: str) -> list[Finding]:
    return [f for f in report.findings if f.check == check]


def inside_point(geom: shapely.Geometry) -> tuple[float, float]:
    point = geom.representative_point()
    return point.x, point.y


# --- the clean demo ----------------------------------------------------------------------

def test_clean_demo_has_no_findings(street: shapely.Geometry, communities: gpd.GeoDataFrame,
                                    grids: gpd.GeoDataFrame, buildings: gpd.GeoDataFrame,
                                    demo: BeiganDemo) -> None:
    assert validate("communities", communities, extent=street).findings == []
    assert validate("grids", grids, extent=street, parents=communities).findings == []
    report = validate("buildings", buildings, extent=street, parents=grids)
    assert report.ok and report.findings == []
    assert list(report.frame["grid_code"]) == list(demo.buildings["grid_code"])
    assert set(report.frame.geom_type) == {"MultiPolygon"}


# --- geometry ----------------------------------------------------------------------------

def test_bowtie_is_an_error_stating_the_area_change(communities: gpd.GeoDataFrame) -> None:
    frame = communities.copy()
    lon, lat = inside_point(frame.geometry.iloc[5])
    frame.loc[5, "geometry"] = local([(-50, -50), (50, 50), (50, -50), (-50, 50)], lon, lat)
    report = validate("communities", frame)
    [finding] = found(report, "geometry_invalid")
    assert finding.severity == "error" and finding.feature_id == frame["code"].iloc[5]
    assert "Self-intersection" in finding.message and "make_valid" in finding.message
    assert "redraw" in finding.message
    assert finding.lon == pytest.approx(lon, abs=1e-6)
    assert finding.lat == pytest.approx(lat, abs=1e-6)
    assert not report.ok


def test_small_self_intersection_is_repaired_with_a_warning(grids: gpd.GeoDataFrame) -> None:
    frame = grids.copy()
    lon, lat = inside_point(frame.geometry.iloc[0])
    # A 40 m square whose closing edge overshoots the first corner by 1 m: a 0.5 m² lobe.
    frame.loc[0, "geometry"] = local([(0, 0), (40, 0), (40, 40), (0, 40), (1, -1)], lon, lat)
    report = validate("grids", frame)
    [finding] = found(report, "geometry_invalid")
    assert finding.severity == "warning" and "repaired with make_valid" in finding.message
    repaired = report.frame.geometry.iloc[0]
    assert repaired.is_valid and repaired.geom_type == "MultiPolygon"


def test_mixed_geometry_types(tmp_path: Path, communities: gpd.GeoDataFrame) -> None:
    square = communities.geometry.iloc[0].geoms[0]
    lon, lat = inside_point(square)
    geoms = [square, Point(lon, lat), LineString([(lon, lat), (lon + 0.001, lat)]),
             GeometryCollection([square]), GeometryCollection([square, Point(lon, lat)])]
    frame = gpd.GeoDataFrame({"code": [f"33010900200{i}" for i in range(5)],
                              "name": [f"社区{i}" for i in range(5)]}, geometry=geoms, crs=4326)
    path = tmp_path / "mixed.geojson"
    frame.to_file(path, engine="pyogrio")
    report = validate("communities", normalise("communities", read_layer(path)))
    kinds = {(f.feature_id, f.severity): f.message for f in found(report, "geometry_type")}
    assert "is a Point; communities must be polygons" in kinds[("330109002001", "error")]
    assert "is a LineString" in kinds[("330109002002", "error")]
    assert "repaired into a MultiPolygon" in kinds[("330109002003", "warning")]
    assert "GeometryCollection of Point, Polygon" in kinds[("330109002004", "error")]
    assert report.frame.geometry.iloc[3].geom_type == "MultiPolygon"


def test_missing_geometry(grids: gpd.GeoDataFrame) -> None:
    frame = grids.copy()
    frame.loc[2, "geometry"] = None
    [finding] = found(validate("grids", frame), "geometry_missing")
    assert finding.feature_id == frame["code"].iloc[2] and finding.row == 3


def test_swapped_coordinates(tmp_path: Path, demo: BeiganDemo) -> None:
    swapped = demo.communities.copy()
    swapped["geometry"] = shapely.transform(swapped.geometry.array, lambda c: c[:, ::-1])
    path = tmp_path / "swapped.geojson"
    swapped.to_file(path, engine="pyogrio")
    report = validate("communities", normalise("communities", read_layer(path)))
    findings = found(report, "latlon_swapped")
    assert len(findings) == len(demo.communities)
    assert all(f.severity == "error" and "swap" in f.message for f in findings)
    assert 120 < (findings[0].lon or 0) < 121 and 30 < (findings[0].lat or 0) < 31


def test_outside_and_partly_outside_the_street(street: shapely.Geometry,
                                               communities: gpd.GeoDataFrame) -> None:
    frame = communities.copy()
    frame.loc[0, "geometry"] = shapely.affinity.translate(frame.geometry.iloc[0], xoff=0.05)
    frame.loc[1, "geometry"] = MultiPolygon([frame.geometry.iloc[1].geoms[0].buffer(0.02)])
    report = validate("communities", frame, extent=street)
    [outside] = found(report, "extent_outside")
    assert outside.feature_id == frame["code"].iloc[0] and outside.severity == "error"
    assert "--crs gcj02" in outside.message
    [partly] = found(report, "extent_partly_outside")
    assert partly.feature_id == frame["code"].iloc[1] and partly.severity == "warning"


# --- ids and names -----------------------------------------------------------------------

def test_duplicate_and_missing_ids(grids: gpd.GeoDataFrame) -> None:
    frame = grids.copy()
    code = frame["code"].iloc[1]
    frame.loc[[3, 7], "code"] = code
    frame.loc[9, "code"] = None
    report = validate("grids", frame)
    [duplicate] = found(report, "id_duplicate")
    assert duplicate.feature_id == code
    assert f"code {code} is used by 3 features: rows 2, 4, 8" in duplicate.message
    [missing] = found(report, "id_missing")
    assert missing.row == 10 and "row 10 has no code" in missing.message


def test_existing_codes(grids: gpd.GeoDataFrame) -> None:
    report = validate("grids", grids, existing_codes={grids["code"].iloc[4]})
    [taken] = found(report, "id_exists")
    assert taken.feature_id == grids["code"].iloc[4]


# --- grids and communities ---------------------------------------------------------------

def neighbours(grids: gpd.GeoDataFrame, i: int) -> set[str]:
    touching = grids.geometry.intersects(grids.geometry.iloc[i])
    return set(grids["code"][touching]) - {grids["code"].iloc[i]}


def test_overlapping_grids_name_both(grids: gpd.GeoDataFrame) -> None:
    frame = grids.copy()
    frame.loc[10, "geometry"] = MultiPolygon([frame.geometry.iloc[10].geoms[0].buffer(0.0002)])
    findings = found(validate("grids", frame), "overlap")
    assert findings and all(f.severity == "error" for f in findings)
    code = frame["code"].iloc[10]
    named = {c for f in findings for c in neighbours(grids, 10) if c in f.message}
    assert all(code in f.message for f in findings)
    assert named == neighbours(grids, 10)
    assert all("m²" in f.message for f in findings)


def test_overlapping_communities(communities: gpd.GeoDataFrame) -> None:
    frame = communities.copy()
    frame.loc[0, "geometry"] = frame.geometry.iloc[0].buffer(0.0005)
    findings = found(validate("communities", frame), "overlap")
    assert findings and all(frame["code"].iloc[0] in f.message for f in findings)


def test_gap_left_by_a_missing_grid(grids: gpd.GeoDataFrame,
                                    communities: gpd.GeoDataFrame) -> None:
    dropped = grids.iloc[20]
    report = validate("grids", grids.drop(index=20).reset_index(drop=True), parents=communities)
    [gap] = found(report, "gap")
    assert gap.severity == "warning" and dropped["community_code"] in gap.message
    assert dropped.geometry.contains(Point(gap.lon, gap.lat))
    assert report.ok


def test_grid_sticking_out_of_its_community(grids: gpd.GeoDataFrame,
                                            communities: gpd.GeoDataFrame) -> None:
    frame = grids.copy()
    frame.loc[30, "geometry"] = shapely.affinity.translate(frame.geometry.iloc[30],
                                                           xoff=300 * M_LON)
    report = validate("grids", frame, parents=communities)
    [out] = found(report, "outside_parent")
    assert out.feature_id == frame["code"].iloc[30] and out.severity == "error"
    assert f"sticks out of its community {frame['community_code'].iloc[30]}" in out.message


def test_unknown_parent_community(grids: gpd.GeoDataFrame,
                                  communities: gpd.GeoDataFrame) -> None:
    frame = grids.copy()
    frame.loc[5, "community_code"] = "330109002999"
    [unknown] = found(validate("grids", frame, parents=communities), "parent_unknown")
    assert "names community 330109002999, which is not among the 40" in unknown.message


# --- buildings ---------------------------------------------------------------------------

def shared_edge(grids: gpd.GeoDataFrame) -> tuple[Point, str, str]:
    """The midpoint of a long edge two grids share, and their codes."""
    geoms = grids.geometry.array
    a, b = shapely.STRtree(geoms).query(geoms, predicate="touches")
    for i, j in zip(a, b, strict=True):
        edge = shapely.intersection(geoms[i], geoms[j])
        if i < j and edge.length > 40 * M_LAT:
            return shapely.line_interpolate_point(shapely.line_merge(edge), 0.5,
                                                  normalized=True), grids["code"].iloc[i], \
                grids["code"].iloc[j]
    raise AssertionError("no shared edge")


def test_building_straddling_two_grids(buildings: gpd.GeoDataFrame,
                                       grids: gpd.GeoDataFrame) -> None:
    middle, first, second = shared_edge(grids)
    frame = buildings.head(3).copy()
    frame.loc[1, "geometry"] = MultiPolygon([local(
        [(-10, -10), (10, -10), (10, 10), (-10, 10)], middle.x, middle.y)])
    report = validate("buildings", frame, parents=grids)
    [straddle] = found(report, "building_straddles")
    assert straddle.feature_id == frame["code"].iloc[1] and straddle.severity == "warning"
    assert first in straddle.message and second in straddle.message
    assert report.frame["grid_code"].iloc[1] in (first, second)


def test_building_in_no_grid(buildings: gpd.GeoDataFrame, grids: gpd.GeoDataFrame) -> None:
    frame = buildings.head(5)
    own = grids["code"] == validate("buildings", frame, parents=grids).frame["grid_code"].iloc[0]
    report = validate("buildings", frame, parents=grids[~own])
    lonely = found(report, "building_no_grid")
    assert frame["code"].iloc[0] in {f.feature_id for f in lonely}
    assert report.ok and report.frame["grid_code"].iloc[0] is None


def test_grid_shares_match_geos() -> None:
    rng = np.random.default_rng(7)
    grids = np.array([box(0, 0, 1, 1), box(1, 0, 2, 1),
                      Polygon([(0, 1), (2, 1), (2, 2), (1, 1.4), (0, 2)]),  # concave
                      box(2, 0, 3, 2).difference(box(2.4, 0.4, 2.6, 0.6))],  # with a hole
                     dtype=object)
    centres = rng.uniform(0, 3, (400, 2))
    footprints = shapely.buffer(shapely.points(centres), rng.uniform(0.05, 0.3, 400),
                                quad_segs=3)
    footprints[0] = box(0.5, 0.5, 1.5, 1.5).difference(box(0.9, 0.9, 1.1, 1.1))
    footprints[1] = MultiPolygon([box(0.1, 0.1, 0.2, 0.2), box(1.8, 1.8, 2.2, 1.9)])
    footprint, grid, share = grid_shares(footprints, grids)
    exact = (shapely.area(shapely.intersection(footprints[footprint], grids[grid]))
             / shapely.area(footprints[footprint]))
    np.testing.assert_allclose(share, exact, atol=1e-9)
    everywhere = shapely.area(shapely.intersection(footprints[:, None], grids[None, :]))
    assert (everywhere > 1e-12).sum() == len(footprint)


# --- the report --------------------------------------------------------------------------

def test_report_table_and_json(grids: gpd.GeoDataFrame) -> None:
    frame = grids.copy()
    frame.attrs["warnings"] = ["grids.shp has no coordinate reference system"]
    frame.loc[3, "code"] = frame["code"].iloc[2]
    report = validate("grids", frame)
    assert [f.severity for f in report.findings] == ["error", "warning"]
    data = json.loads(json.dumps(report.to_json(), ensure_ascii=False))
    assert data["ok"] is False and data["errors"] == 1 and data["warnings"] == 1
    assert data["counts"] == {"error": {"id_duplicate": 1}, "warning": {"read": 1}}
    table = report.to_table()
    lines = table.splitlines()
    assert lines[0] == ("grids: 374 features, 1 error, 1 warning; cannot be imported until "
                        "the errors are fixed.")
    assert lines[1].split()[:2] == ["severity", "check"] and lines[2].startswith("error")
    assert lines[3].startswith("warning") and "no coordinate reference system" in lines[3]
    # The message column starts at the same place on every line.
    starts = {line.index(word) for line, word in
              zip(lines[1:], ("message", "code", "grids.shp"), strict=True)}
    assert len(starts) == 1


def test_report_width_counts_chinese_characters_double() -> None:
    frame = gpd.GeoDataFrame({"code": ["北干1", "B2"], "name": ["甲", "乙"],
                              "community_code": ["1", "1"], "officer_name": [None, None],
                              "officer_phone": [None, None]},
                             geometry=[None, None], crs=4326)
    lines = validate("grids", frame).to_table().splitlines()[2:]
    prefixes = [line[:line.rindex(f"{code} has no geometry")]
                for line, code in zip(lines, ("北干1", "B2"), strict=True)]
    assert len({len(p) for p in prefixes}) == 2  # in characters they differ ...
    display = {sum(2 if "\u4e00" <= c <= "\u9fff" else 1 for c in p) for p in prefixes}
    assert len(display) == 1  # ... on the terminal the messages line up


# --- attributes PostgreSQL would refuse ----------------------------------------------------

def test_a_community_code_not_of_12_digits_is_an_error(communities: gpd.GeoDataFrame) -> None:
    frame = communities.copy()
    frame.loc[2, "code"] = "33010900204"
    frame.loc[4, "code"] = "33010900204X"
    report = validate("communities", frame)
    findings = found(report, "code_format")
    assert [f.feature_id for f in findings] == ["33010900204", "33010900204X"]
    assert all(f.severity == "error" and "e.g. 330109002041" in f.message for f in findings)
    assert not report.ok


def test_floors_and_heights_out_of_range_are_errors(buildings: gpd.GeoDataFrame) -> None:
    frame = buildings.head(8).copy()
    frame["floors"] = pd.array([1e20, 2.0**31, 0.3, 2.5, 0, 201, 18.0000001, None],
                               dtype="Float64")
    frame["height_m"] = [3.0, 3.0, 3.0, 3.0, 3.0, 3.0, 5000.0, -1.0]
    report = validate("buildings", frame)
    floors = {f.feature_id: f.message for f in found(report, "floors_invalid")}
    codes = list(frame["code"])
    assert list(floors) == codes[:6]
    assert "has floors 1e+20: floors must be a whole number of storeys from 1 to 200" in (
        floors[codes[0]])
    assert "has floors 2147483648:" in floors[codes[1]]
    assert "has floors 0.3:" in floors[codes[2]] and "--floors-field" in floors[codes[2]]
    heights = {f.feature_id: f.message for f in found(report, "height_invalid")}
    assert list(heights) == codes[6:]
    assert "has height 5000 m: a height must be above 0 and below 1000 m" in heights[codes[6]]
    assert all(f.severity == "error" for f in report.findings) and not report.ok
    assert report.frame["floors"].dtype == "Int64"
    assert list(report.frame["floors"]) == [pd.NA] * 6 + [18, pd.NA]


def test_normalise_reads_any_number_of_floors_and_leaves_the_verdict_to_validation(
        demo: BeiganDemo) -> None:
    frame = demo.buildings.head(3).copy()
    frame["floors"] = ["1e+20", "18层", "0.3"]
    out = normalise("buildings", frame)  # 1e20 floors used to raise TypeError here
    assert list(out["floors"]) == [1e20, 18, 0.3]
    report = validate("buildings", out)
    assert [f.feature_id for f in found(report, "floors_invalid")] == [
        frame["code"].iloc[0], frame["code"].iloc[2]]
    assert list(report.frame["floors"]) == [pd.NA, 18, pd.NA]


def test_a_nul_character_in_text_is_an_error_naming_the_column(
        grids: gpd.GeoDataFrame) -> None:
    frame = grids.copy()
    frame.loc[6, "officer_name"] = "张\x00三"
    [nul] = found(validate("grids", frame), "text_nul")
    assert nul.severity == "error" and nul.feature_id == frame["code"].iloc[6]
    assert "NUL character (\\x00) in its officer_name ('张\\x00三')" in nul.message
