"""Bad input committed: each gets a clear error (an InvalidInput naming its field, or an error
finding in the report) and leaves the database as it was; warnings alone do not block."""

from __future__ import annotations

import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import pytest
import shapely
from shapely import GeometryCollection, LineString, Point
from sqlalchemy import text
from sqlalchemy.orm import Session

from data.beigan import BeiganDemo
from geo.errors import InvalidInput
from geo.ingest.commit import ImportRequest, import_frame, run_import
from tests.ingest.conftest import damage_zip_member, local_crs_shapefile
from tests.ingest.test_commit import counts, export_boundaries, request

# Writing the test files (Shapefiles cut long column names) warns.
pytestmark = [pytest.mark.filterwarnings("ignore:Column names longer than 10 characters"),
              pytest.mark.filterwarnings("ignore:Normalized/laundered field name")]

@dataclass(frozen=True)
class Bad:
    """A bad input: ``make`` writes it (or builds it in memory: ``frame``) and says how to
    import it; the import must fail on ``field`` (InvalidInput) or ``check`` (a finding)."""

    make: Callable[[Session, Path, BeiganDemo], tuple[ImportRequest, gpd.GeoDataFrame | None]]
    field: str | None = None
    check: str | None = None


def written(kind: str, frame: gpd.GeoDataFrame, path: Path,
            **options: object) -> tuple[ImportRequest, None]:
    frame.to_file(path, engine="pyogrio")
    return request(kind, path, commit=True, **options), None


def unknown_layer(_: Session, tmp: Path, demo: BeiganDemo) -> tuple[ImportRequest, None]:
    path = tmp / "beigan.gpkg"
    demo.communities.to_file(path, layer="communities", engine="pyogrio")
    return written("grids", demo.grids, path, layer="wangge")


def swapped(_: Session, tmp: Path, demo: BeiganDemo) -> tuple[ImportRequest, None]:
    frame = demo.communities.copy()
    frame["geometry"] = shapely.transform(frame.geometry.array, lambda c: c[:, ::-1])
    return written("communities", frame, tmp / "swapped.geojson")


def mixed(_: Session, tmp: Path, demo: BeiganDemo) -> tuple[ImportRequest, None]:
    frame = demo.communities.copy()
    centre = frame.geometry.iloc[3].representative_point()
    frame.loc[3, "geometry"] = Point(centre.x, centre.y)
    frame.loc[4, "geometry"] = LineString([(centre.x, centre.y), (centre.x + 1e-3, centre.y)])
    return written("communities", frame, tmp / "mixed.geojson")


def gbk_without_cpg(_: Session, tmp: Path, demo: BeiganDemo) -> tuple[ImportRequest, None]:
    demo.communities.to_file(tmp / "communities.shp", encoding="GBK", engine="pyogrio")
    (tmp / "communities.cpg").unlink()
    return request("communities", tmp / "communities.shp", commit=True), None


def local_crs(_: Session, tmp: Path, demo: BeiganDemo) -> tuple[ImportRequest, None]:
    return request("communities", local_crs_shapefile(tmp, demo), commit=True), None


def short_code(_: Session, tmp: Path, demo: BeiganDemo) -> tuple[ImportRequest, None]:
    frame = demo.communities.copy()
    frame.loc[7, "code"] = frame["code"].iloc[7][:11]
    return written("communities", frame, tmp / "communities.geojson")


def buildings(**values: object) -> Callable[[Session, Path, BeiganDemo],
                                            tuple[ImportRequest, None]]:
    """New buildings (so they go by COPY) with ``values`` in the first one."""
    def make(_: Session, tmp: Path, demo: BeiganDemo) -> tuple[ImportRequest, None]:
        frame = demo.buildings.head(3).copy()
        frame["code"] = ["BAD-1", "BAD-2", "BAD-3"]
        for column, value in values.items():
            frame[column] = frame[column].astype(object if isinstance(value, str) else float)
            frame.loc[0, column] = value
        return written("buildings", frame, tmp / "buildings.geojson")
    return make


def nul_in_name(_: Session, tmp: Path, demo: BeiganDemo) -> tuple[ImportRequest,
                                                                 gpd.GeoDataFrame]:
    """GDAL cuts text at a NUL when it reads a file: this one comes as a frame."""
    frame = demo.buildings.head(3).copy()
    frame["code"] = ["BAD-1", "BAD-2", "BAD-3"]
    frame.loc[1, "name"] = "北干\x00一苑"
    return request("buildings", tmp / "frame", commit=True), frame


def generation_with_grids(session: Session, tmp: Path,
                          _: BeiganDemo) -> tuple[ImportRequest, None]:
    communities, grids = export_boundaries(session, tmp)
    first = run_import(session, request("communities", communities, commit=True))
    assert run_import(session, request("grids", grids, commit=True)).committed
    return request("grids", grids, generation=first.generation, commit=True), None


def zipped(*, encrypt: bool, cpg: bool) -> Callable[[Session, Path, BeiganDemo],
                                                    tuple[ImportRequest, None]]:
    def make(_: Session, tmp: Path, demo: BeiganDemo) -> tuple[ImportRequest, None]:
        folder = tmp / "shp"
        folder.mkdir()
        demo.communities.to_file(folder / "communities.shp", engine="pyogrio")
        if not cpg:
            (folder / "communities.cpg").unlink()
        path = tmp / "communities.zip"
        with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for part in sorted(folder.iterdir()):
                archive.write(part, part.name)
        damage_zip_member(path, "communities.dbf", encrypt=encrypt)
        return request("communities", path, commit=True), None
    return make


BAD = {
    "layer that does not exist": Bad(unknown_layer, field="layer"),
    "coordinates swapped": Bad(swapped, check="latlon_swapped"),
    "mixed geometry types": Bad(mixed, check="geometry_type"),
    "GBK Shapefile without .cpg": Bad(gbk_without_cpg, field="encoding"),
    "local CRS in the .prj": Bad(local_crs, field="crs"),
    "community code of 11 digits": Bad(short_code, check="code_format"),
    "floors 1e20": Bad(buildings(floors=1e20), check="floors_invalid"),
    "floors '1e+20' as text": Bad(buildings(floors="1e+20"), check="floors_invalid"),
    "floors 2**31": Bad(buildings(floors=2**31), check="floors_invalid"),
    "floors 0.3": Bad(buildings(floors=0.3), check="floors_invalid"),
    "height 5000 m": Bad(buildings(height_m=5000.0), check="height_invalid"),
    "NUL in a name": Bad(nul_in_name, check="text_nul"),
    "--generation that has grids": Bad(generation_with_grids, field="generation"),
    "damaged zip member": Bad(zipped(encrypt=False, cpg=False), field="file"),
    "encrypted zip member": Bad(zipped(encrypt=True, cpg=False), field="file"),
    "damaged zip member with .cpg": Bad(zipped(encrypt=False, cpg=True), field="file"),
}


@pytest.mark.parametrize("bad", BAD.values(), ids=BAD.keys())
def test_bad_input_is_refused_and_changes_nothing(session: Session, tmp_path: Path,
                                                  demo: BeiganDemo, bad: Bad) -> None:
    wanted, frame = bad.make(session, tmp_path, demo)
    before = counts(session)
    if bad.field is not None:
        with pytest.raises(InvalidInput) as error:
            run_import(session, wanted)
        assert error.value.field == bad.field, error.value.detail
        assert error.value.fix
    else:
        result = (run_import(session, wanted) if frame is None else
                  import_frame(session, wanted, frame))
        assert not result.committed and not result.report.ok
        assert any(f.check == bad.check and f.severity == "error"
                   for f in result.report.findings), result.report.to_table()
    assert counts(session) == before


def test_warnings_do_not_block_a_commit(session: Session, tmp_path: Path) -> None:
    lon, lat = session.execute(text("""
        SELECT ST_X(p), ST_Y(p) FROM grid g JOIN generation n ON n.id = g.generation_id,
        LATERAL ST_PointOnSurface(g.geom) p WHERE n.active ORDER BY g.code LIMIT 1""")).one()
    square = shapely.box(lon - 5e-5, lat - 5e-5, lon + 5e-5, lat + 5e-5)
    frame = gpd.GeoDataFrame({"code": ["WARN-1"], "use": ["仓库?"]},  # no name, unknown use
                             geometry=[GeometryCollection([square])], crs=4326)
    path = tmp_path / "warned.geojson"
    frame.to_file(path, engine="pyogrio")
    before = counts(session)
    result = run_import(session, request("buildings", path, commit=True))
    assert result.report.errors == 0 and result.report.warnings == 3, result.report.to_table()
    assert {f.check for f in result.report.findings} == {"read", "geometry_type"}
    assert result.committed and result.inserted == 1
    assert counts(session) == {**before, "building": before["building"] + 1}
    assert session.execute(text("SELECT name, use FROM building WHERE code = 'WARN-1'")
                           ).one() == ("WARN-1", "residential")
