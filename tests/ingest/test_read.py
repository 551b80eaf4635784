"""Reading survey files: every format the issue names, and a clear error for every bad file."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from shapely.geometry import mapping

from data.beigan import BeiganDemo
from geo.crs import geometries_from_wgs84
from geo.errors import InvalidInput
from geo.ingest.fields import FieldMap, normalise
from geo.ingest.read import LayerSource, read_layer, read_warnings, resolve_source
from tests.ingest.conftest import damage_zip_member, local_crs_shapefile, zip_folder

# Writing the test files (Shapefiles cut long column names, files without a CRS) warns.
pytestmark = [pytest.mark.filterwarnings("ignore:Column names longer than 10 characters"),
              pytest.mark.filterwarnings("ignore:Normalized/laundered field name"),
              pytest.mark.filterwarnings("ignore:'crs' was not provided")]


def metres_apart(a: gpd.GeoSeries, b: gpd.GeoSeries) -> np.ndarray:
    """Hausdorff distance (m, roughly: 1 degree ~ 111 km) between matching WGS84 geometries."""
    return np.asarray(shapely.hausdorff_distance(a.array, b.array)) * 111_320


# --- happy paths -------------------------------------------------------------------------

def test_geojson_feature_collection(communities_geojson: Path, demo: BeiganDemo) -> None:
    frame = read_layer(communities_geojson)
    assert frame.crs.to_epsg() == 4326
    assert list(frame["code"]) == list(demo.communities["code"])
    assert list(frame["name"]) == list(demo.communities["name"])
    assert metres_apart(frame.geometry, demo.communities.geometry).max() < 0.001
    assert read_warnings(frame) == []
    assert frame.attrs["source"]["format"] == "GeoJSON"


def test_bare_geometry_object(tmp_path: Path, demo: BeiganDemo) -> None:
    path = tmp_path / "boundary.geojson"
    path.write_text(json.dumps(mapping(demo.communities.geometry.iloc[0])))
    frame = read_layer(path)
    assert len(frame) == 1
    assert frame.geometry.iloc[0].equals(demo.communities.geometry.iloc[0])


def test_single_feature(tmp_path: Path, demo: BeiganDemo) -> None:
    path = tmp_path / "one.json"
    feature = {"type": "Feature", "properties": {"code": "330109002041", "name": "博学路社区"},
               "geometry": mapping(demo.communities.geometry.iloc[3])}
    path.write_text(json.dumps(feature, ensure_ascii=False), encoding="utf-8")
    frame = read_layer(path)
    assert len(frame) == 1
    assert frame["name"].iloc[0] == "博学路社区"


def test_shapefile_folder_and_file(shapefile_folder: Path, demo: BeiganDemo) -> None:
    for path in (shapefile_folder, shapefile_folder / "grids.shp"):
        frame = read_layer(path)
        assert len(frame) == len(demo.grids)
        assert frame["name"].iloc[0] == demo.grids["name"].iloc[0]


def test_shapefile_zip_in_a_subfolder(shapefile_folder: Path, tmp_path: Path,
                                      demo: BeiganDemo) -> None:
    path = zip_folder(shapefile_folder, tmp_path / "grids.zip", prefix="export/")
    frame = read_layer(path)
    assert len(frame) == len(demo.grids)
    assert frame.attrs["source"]["file"] == "grids.zip!export/grids.shp"
    # Shapefiles cut column names to 10 characters; normalise still finds them.
    grids = normalise("grids", frame)
    assert list(grids["community_code"]) == list(demo.grids["community_code"])
    assert list(grids["officer_phone"]) == list(demo.grids["officer_phone"])


def test_geopackage_with_two_layers(tmp_path: Path, demo: BeiganDemo) -> None:
    path = tmp_path / "beigan.gpkg"
    demo.communities.to_file(path, layer="communities", engine="pyogrio")
    demo.grids.to_file(path, layer="grids", engine="pyogrio")
    assert len(read_layer(path, layer="grids")) == len(demo.grids)
    with pytest.raises(InvalidInput, match=r"2 layers: communities .*grids") as error:
        read_layer(path)
    assert error.value.field == "layer"
    with pytest.raises(InvalidInput, match=r"no layer 'wangge'; its layers are: "
                                           r"communities, grids") as error:
        read_layer(path, layer="wangge")
    assert error.value.field == "layer"
    assert "--layer" in (error.value.fix or "")


def test_kml(tmp_path: Path, demo: BeiganDemo) -> None:
    path = tmp_path / "communities.kml"
    demo.communities.to_file(path, driver="KML", engine="pyogrio")
    frame = normalise("communities", read_layer(path))
    assert list(frame["name"]) == list(demo.communities["name"])
    assert list(frame["code"]) == list(demo.communities["code"])
    assert "tessellate" not in read_layer(path).columns


def test_declared_gauss_kruger_is_converted(tmp_path: Path, demo: BeiganDemo) -> None:
    path = tmp_path / "communities_4549.gpkg"
    demo.communities.to_crs(4549).to_file(path, engine="pyogrio")
    frame = read_layer(path)
    assert frame.crs.to_epsg() == 4326
    assert metres_apart(frame.geometry, demo.communities.geometry).max() < 0.001
    assert frame.attrs["source"]["crs"] == "EPSG:4549"


def test_gcj02_file_read_with_and_without_crs(tmp_path: Path, demo: BeiganDemo) -> None:
    shifted = demo.communities.copy()
    shifted["geometry"] = geometries_from_wgs84(demo.communities.geometry.array, "gcj02")
    path = tmp_path / "communities_amap.geojson"
    shifted.to_file(path, engine="pyogrio")
    right = read_layer(path, crs="gcj02")
    assert metres_apart(right.geometry, demo.communities.geometry).max() < 0.01
    wrong = read_layer(path)
    offset = metres_apart(wrong.geometry, demo.communities.geometry)
    assert offset.min() > 300 and offset.max() < 800


def test_no_crs_in_lonlat_is_taken_as_wgs84_with_a_warning(tmp_path: Path,
                                                          demo: BeiganDemo) -> None:
    path = tmp_path / "noprj.shp"
    demo.communities.set_crs(None, allow_override=True).to_file(path, engine="pyogrio")
    frame = read_layer(path)
    assert frame.crs.to_epsg() == 4326
    [warning] = read_warnings(frame)
    assert "no coordinate reference system" in warning and "WGS84" in warning


def test_gbk_shapefile_with_cpg(gbk_shapefile: Path, demo: BeiganDemo) -> None:
    frame = read_layer(gbk_shapefile)
    assert list(frame["name"]) == list(demo.communities["name"])


def test_gbk_shapefile_without_cpg_needs_the_encoding(gbk_shapefile_without_cpg: Path,
                                                      demo: BeiganDemo) -> None:
    with pytest.raises(InvalidInput, match=r"not UTF-8 and there is no .cpg") as error:
        read_layer(gbk_shapefile_without_cpg)
    assert error.value.field == "encoding"
    assert "GBK" in error.value.detail and "--encoding GBK" in (error.value.fix or "")
    frame = read_layer(gbk_shapefile_without_cpg, encoding="GBK")
    assert list(frame["name"]) == list(demo.communities["name"])


def test_utf8_shapefile_without_cpg_reads(tmp_path: Path, demo: BeiganDemo) -> None:
    path = tmp_path / "utf8.shp"
    demo.communities.to_file(path, engine="pyogrio")
    path.with_suffix(".cpg").unlink()
    assert list(read_layer(path)["name"]) == list(demo.communities["name"])


def test_resolve_source_names_the_layer(tmp_path: Path, demo: BeiganDemo) -> None:
    path = tmp_path / "one.gpkg"
    demo.street.to_file(path, layer="street", engine="pyogrio")
    assert resolve_source(path) == LayerSource(path, str(path), "GeoPackage", "street")


# --- bad files ---------------------------------------------------------------------------

def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match=r"does not exist") as error:
        read_layer(tmp_path / "nowhere.geojson")
    assert error.value.field == "file"


def test_unsupported_extension(tmp_path: Path) -> None:
    path = tmp_path / "grids.dwg"
    path.write_bytes(b"AC1032")
    with pytest.raises(InvalidInput, match=r"\.dwg is not a supported format") as error:
        read_layer(path)
    assert "GeoPackage" in (error.value.fix or "")


def test_truncated_geojson(truncated_geojson: Path) -> None:
    with pytest.raises(InvalidInput, match=r"not valid GeoJSON .*truncated") as error:
        read_layer(truncated_geojson)
    assert error.value.field == "file"
    assert "Traceback" not in error.value.detail


def test_garbled_file(tmp_path: Path) -> None:
    path = tmp_path / "grids.gpkg"
    path.write_bytes(bytes(range(256)) * 40)
    with pytest.raises(InvalidInput, match=r"grids.gpkg cannot be read as GeoPackage"):
        read_layer(path)


def test_zip_without_shp(zip_without_shp: Path) -> None:
    with pytest.raises(InvalidInput, match=r"survey.zip holds no Shapefile .*it holds: "
                                           r"readme.txt, grids.dbf") as error:
        read_layer(zip_without_shp)
    assert error.value.field == "file"


def test_incomplete_shapefile(shapefile_folder: Path) -> None:
    (shapefile_folder / "grids.dbf").unlink()
    with pytest.raises(InvalidInput, match=r"incomplete, grids\.dbf missing"):
        read_layer(shapefile_folder)


def test_folder_with_two_shapefiles(shapefile_folder: Path, demo: BeiganDemo) -> None:
    demo.communities.to_file(shapefile_folder / "communities.shp", engine="pyogrio")
    with pytest.raises(InvalidInput, match=r"2 Shapefiles: communities, grids"):
        read_layer(shapefile_folder)
    assert len(read_layer(shapefile_folder, layer="communities")) == len(demo.communities)


def test_zero_features(empty_geojson: Path) -> None:
    with pytest.raises(InvalidInput, match=r"empty.geojson holds no features"):
        read_layer(empty_geojson)


def test_no_crs_in_gauss_kruger_metres_is_refused(gk_shapefile_without_prj: Path,
                                                  demo: BeiganDemo) -> None:
    with pytest.raises(InvalidInput, match=r"no coordinate reference system.*not "
                                           r"longitude/latitude.*EPSG:4549") as error:
        read_layer(gk_shapefile_without_prj)
    assert error.value.field == "crs"
    assert "--crs EPSG:4549" in (error.value.fix or "")
    frame = read_layer(gk_shapefile_without_prj, crs="EPSG:4549")
    assert metres_apart(frame.geometry, demo.communities.geometry).max() < 0.001


def test_zone_prefixed_eastings_name_their_zone(tmp_path: Path, demo: BeiganDemo) -> None:
    metres = demo.communities.to_crs(4549).set_crs(None, allow_override=True)
    metres["geometry"] = metres.translate(xoff=40_000_000)
    path = tmp_path / "zone40.shp"
    metres.to_file(path, engine="pyogrio")
    with pytest.raises(InvalidInput, match=r"zone number \(40\).*EPSG:4528"):
        read_layer(path)


def test_declared_wgs84_with_metres_is_refused(tmp_path: Path, demo: BeiganDemo) -> None:
    metres = demo.communities.to_crs(4549).set_crs(4326, allow_override=True)
    path = tmp_path / "mislabelled.gpkg"
    metres.to_file(path, engine="pyogrio")
    with pytest.raises(InvalidInput, match=r"declares EPSG:4326.*EPSG:4549"):
        read_layer(path)


def test_a_local_crs_is_refused_naming_the_likely_one(tmp_path: Path, demo: BeiganDemo) -> None:
    path = local_crs_shapefile(tmp_path, demo)
    with pytest.raises(InvalidInput, match=r"declares Beigan site grid \(Engineering CRS\), "
                                           r"which cannot be converted.*EPSG:4549") as error:
        read_layer(path)  # pyproj's ProjError used to escape
    assert error.value.field == "crs"
    assert "--crs EPSG:4549" in (error.value.fix or "")
    frame = read_layer(path, crs="EPSG:4549")
    assert metres_apart(frame.geometry, demo.communities.geometry).max() < 0.001


@pytest.mark.parametrize("encrypt", [False, True], ids=["damaged", "encrypted"])
def test_a_bad_zip_member_is_named(shapefile_folder: Path, tmp_path: Path,
                                   encrypt: bool) -> None:
    path = damage_zip_member(zip_folder(shapefile_folder, tmp_path / "grids.zip"), "grids.shp",
                             encrypt=encrypt)
    reason = "File .grids.shp. is encrypted" if encrypt else "Bad CRC-32"
    with pytest.raises(InvalidInput, match=rf"grids.zip: grids.shp cannot be read \({reason}.*"
                                           r"damaged or encrypted") as error:
        read_layer(path)  # GDAL reads both without complaint
    assert error.value.field == "file" and "without a password" in (error.value.fix or "")


def test_unknown_crs_option(communities_geojson: Path) -> None:
    with pytest.raises(InvalidInput, match=r"Unknown coordinate reference system") as error:
        read_layer(communities_geojson, crs="beijing54")
    assert error.value.field == "crs"


# --- field mapping -----------------------------------------------------------------------

def test_normalise_guesses_chinese_columns_and_keeps_codes_whole(demo: BeiganDemo) -> None:
    frame = demo.communities.drop(columns="kind").rename(
        columns={"code": "社区编码", "name": "名称"})
    frame["社区编码"] = frame["社区编码"].astype(float)
    out = normalise("communities", frame)
    assert list(out["code"]) == list(demo.communities["code"])
    assert list(out["kind"]) == list(demo.communities["kind"])
    assert list(out.columns) == ["code", "name", "kind", "geometry"]


def test_normalise_missing_column_lists_the_columns(demo: BeiganDemo) -> None:
    with pytest.raises(InvalidInput, match=r"no parent community code column .*its columns "
                                           r"are: code, name, officer_name") as error:
        normalise("grids", demo.grids.drop(columns="community_code"))
    assert error.value.field == "parent_field"
    assert "--parent-field" in (error.value.fix or "")


def test_normalise_with_named_fields(demo: BeiganDemo) -> None:
    frame = demo.buildings.head(4).rename(columns={"code": "BLDG_NO", "floors": "LAYERS"})
    frame["use"] = ["住宅", "商住楼", "公建", "仓库?"]
    frame["LAYERS"] = ["18层", "3", "", None]
    out = normalise("buildings", frame, FieldMap(id_field="bldg_no", floors_field="LAYERS"))
    assert list(out["code"]) == list(demo.buildings["code"].head(4))
    assert list(out["use"]) == ["residential", "mixed", "public", "residential"]
    assert list(out["floors"]) == [18, 3, pd.NA, pd.NA]
    assert any("仓库?" in note for note in read_warnings(out))
    with pytest.raises(InvalidInput, match=r"'nope' \(--id-field\) is not in the file"):
        normalise("buildings", frame, FieldMap(id_field="nope"))
