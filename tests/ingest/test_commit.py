"""Imports end to end against PostGIS: dry runs change nothing, commits load all or nothing,
new generations, activation, and a GCJ-02 file read with and without its CRS."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import pytest
import shapely
from shapely import Polygon
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from data.beigan import STREET_CODE
from geo import registry
from geo.crs import geometries_from_wgs84
from geo.errors import InvalidInput
from geo.ingest.commit import ImportRequest, run_import
from geo.ingest.export import export_layer
from geo.locate import locate
from geo.models import Building, Community, Generation, Grid
from geo.settings import Settings


def counts(session: Session) -> dict[str, int]:
    return {model.__tablename__: session.scalar(select(func.count()).select_from(model)) or 0
            for model in (Building, Community, Grid, Generation)}


def request(kind: str, path: Path, **options: object) -> ImportRequest:
    return ImportRequest(kind=kind, path=path, street_code=STREET_CODE,  # type: ignore[arg-type]
                         **options)  # type: ignore[arg-type]


def test_a_dry_run_changes_nothing(session: Session, tmp_path: Path) -> None:
    path = tmp_path / "buildings.gpkg"
    export_layer(session, "buildings", path, street_code=STREET_CODE)
    before = counts(session)
    result = run_import(session, request("buildings", path))
    assert result.report.ok and not result.committed
    assert counts(session) == before


def test_buildings_round_trip_as_updates_and_new_ones_are_placed(session: Session,
                                                                 tmp_path: Path) -> None:
    path = tmp_path / "buildings.gpkg"
    exported = export_layer(session, "buildings", path, street_code=STREET_CODE)
    again = run_import(session, request("buildings", path, commit=True))
    assert (again.inserted, again.updated) == (0, exported)

    grid_code, lon, lat = session.execute(text("""
        SELECT g.code, ST_X(p), ST_Y(p) FROM grid g JOIN generation n ON n.id = g.generation_id,
        LATERAL ST_PointOnSurface(g.geom) p WHERE n.active ORDER BY g.code LIMIT 1""")).one()
    new = gpd.GeoDataFrame({"code": ["NEW-1"], "name": ["新楼"], "use": ["住宅"],
                            "height": [54.0], "floors": [18]},
                           geometry=[shapely.box(lon - 5e-5, lat - 5e-5, lon + 5e-5, lat + 5e-5)],
                           crs=4326)
    new_path = tmp_path / "new.geojson"
    new.to_file(new_path, engine="pyogrio")
    added = run_import(session, request("buildings", new_path, commit=True))
    assert (added.inserted, added.updated) == (1, 0)
    placed = session.execute(text("""
        SELECT g.code, b.use, b.height_m, b.floors FROM building b JOIN grid g ON g.id = b.grid_id
        WHERE b.code = 'NEW-1'""")).one()
    assert tuple(placed) == (grid_code, "residential", 54.0, 18)


def bow_tie_file(tmp_path: Path) -> Path:
    bow_tie = Polygon([(120.27, 30.18), (120.271, 30.181), (120.271, 30.18), (120.27, 30.181)])
    frame = gpd.GeoDataFrame({"code": ["BOW"], "name": ["蝴蝶楼"]}, geometry=[bow_tie], crs=4326)
    path = tmp_path / "bow.geojson"
    frame.to_file(path, engine="pyogrio")
    return path


def test_a_commit_with_errors_loads_nothing(session: Session, tmp_path: Path) -> None:
    before = counts(session)
    result = run_import(session, request("buildings", bow_tie_file(tmp_path), commit=True))
    assert not result.report.ok and not result.committed
    assert any(f.feature_id == "BOW" for f in result.report.findings)
    assert counts(session) == before


def test_unreadable_files_change_nothing(session: Session, truncated_geojson: Path,
                                         zip_without_shp: Path, empty_geojson: Path) -> None:
    before = counts(session)
    for path in (truncated_geojson, zip_without_shp, empty_geojson):
        with pytest.raises(InvalidInput):
            run_import(session, request("communities", path, commit=True))
    assert counts(session) == before


def export_boundaries(session: Session, folder: Path, crs: str | None = None) -> tuple[Path,
                                                                                     Path]:
    """The active communities and grids as files, converted to ``crs`` when given."""
    paths = []
    for layer in ("communities", "grids"):
        path = folder / f"{layer}.geojson"
        export_layer(session, layer, path, street_code=STREET_CODE)
        if crs:
            frame = gpd.read_file(path, engine="pyogrio")
            frame = frame.set_geometry(geometries_from_wgs84(frame.geometry.values, crs),
                                       crs=None)
            path.unlink()
            frame.to_file(path, engine="pyogrio")
        paths.append(path)
    return paths[0], paths[1]


def load_generation(session: Session, communities: Path, grids: Path,
                    crs: str | None = None) -> Generation:
    first = run_import(session, request("communities", communities, crs=crs, commit=True))
    second = run_import(session, request("grids", grids, crs=crs, commit=True))
    assert first.committed and second.committed, second.report.to_table()
    assert first.generation == second.generation
    generation = session.scalar(select(Generation).where(
        Generation.street_code == STREET_CODE, Generation.number == first.generation))
    assert generation is not None and not generation.active
    registry.activate_generation(session, generation)
    return generation


def community_points(session: Session) -> list[tuple[str, str, float, float]]:
    """A point inside each active grid: the grid's code, its community's code, lon, lat."""
    return [tuple(row) for row in session.execute(text("""
        SELECT g.code, c.code, ST_X(p), ST_Y(p) FROM grid g
        JOIN generation n ON n.id = g.generation_id JOIN community c ON c.id = g.community_id,
        LATERAL ST_PointOnSurface(g.geom) p WHERE n.active ORDER BY g.code"""))]


def test_new_boundaries_go_into_a_new_generation(session: Session, tmp_path: Path,
                                                 settings: Settings) -> None:
    points = community_points(session)
    generation = load_generation(session, *export_boundaries(session, tmp_path))
    assert generation.number == 2
    assert counts(session)["community"] == 80
    for grid_code, _, lon, lat in points[::25]:
        found = locate(session, lon, lat, settings)
        assert found.grid is not None and found.grid.code == grid_code
        assert found.generation == 2


@pytest.mark.parametrize("declared", [False, True])
def test_a_gcj02_file_lands_right_only_when_declared(session: Session, tmp_path: Path,
                                                     settings: Settings, declared: bool) -> None:
    points = community_points(session)
    files = export_boundaries(session, tmp_path, crs="gcj02")
    load_generation(session, *files, crs="gcj02" if declared else None)
    found = [locate(session, lon, lat, settings) for _, _, lon, lat in points]
    communities = [f.community.code if f.community else None for f in found]
    right = sum(got == community for got, (_, community, _, _) in zip(communities, points,
                                                                      strict=True))
    elsewhere = sum(got is not None and got != community
                    for got, (_, community, _, _) in zip(communities, points, strict=True))
    if declared:
        assert right == len(points)
        assert [f.grid.code if f.grid else None for f in found] == [p[0] for p in points]
    else:
        # Shifted ~500 m, about 3 in 4 of the points fall in another community and 1 in 10
        # outside the street; a few stay where they were.
        assert elsewhere > len(points) / 2
        assert right < len(points) * 0.2


def test_report_json_names_every_finding(session: Session, tmp_path: Path) -> None:
    result = run_import(session, request("buildings", bow_tie_file(tmp_path)))
    body = json.loads(json.dumps(result.to_json()))
    assert body["committed"] is False and body["report"]["ok"] is False
    finding = next(f for f in body["report"]["findings"] if f["feature_id"] == "BOW")
    assert finding["severity"] == "error" and finding["lon"] and finding["lat"]


def test_export_to_a_path_it_cannot_write_is_invalid_input(session: Session,
                                                           tmp_path: Path) -> None:
    for path in (tmp_path / "no such folder" / "grids.gpkg", tmp_path / "grids.geojson"):
        if path.suffix == ".geojson":
            path.mkdir()  # a folder where the file should go
        with pytest.raises(InvalidInput, match=rf"cannot write {path} \(") as error:
            export_layer(session, "grids", path, street_code=STREET_CODE)
        assert error.value.field == "file" and "folder that exists" in (error.value.fix or "")
