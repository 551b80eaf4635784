"""``gridmap import|export|generation``: the GIS admin's commands, in process: what they print,
what they write, and their exit codes (0 clean, 1 findings that block, 2 an error)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import geopandas as gpd
import pytest
import shapely
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.orm import Session

from data.beigan import STREET_CODE
from geo import migrate
from geo.cli import main
from geo.db import transaction
from geo.demo import load_demo
from geo.ingest.export import export_layer
from geo.models import Building
from geo.settings import Settings, get_settings
from tests.conftest import drop_database, recreate_database


def some_buildings(session: Session, tmp_path: Path, count: int = 20) -> gpd.GeoDataFrame:
    path = tmp_path / "all.gpkg"
    export_layer(session, "buildings", path, street_code=STREET_CODE)
    return gpd.read_file(path, engine="pyogrio").head(count)


def written(frame: gpd.GeoDataFrame, path: Path) -> Path:
    frame.to_file(path, engine="pyogrio")
    return path


def buildings_in(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(Building)) or 0


def test_a_dry_run_prints_the_report_writes_its_json_and_exits_0(
        session: Session, tmp_path: Path, test_database: None,
        capsys: pytest.CaptureFixture[str]) -> None:
    path = written(some_buildings(session, tmp_path), tmp_path / "buildings.geojson")
    report = tmp_path / "report.json"
    assert main(["import", "buildings", str(path), "--report-json", str(report)]) == 0
    out = capsys.readouterr().out
    assert "dry run: nothing loaded (add --commit to load)" in out
    body = json.loads(report.read_text(encoding="utf-8"))
    assert body["committed"] is False and body["report"]["ok"] is True
    assert body["report"]["features"] == 20


def test_findings_that_block_exit_1_and_load_nothing(
        session: Session, tmp_path: Path, test_database: None,
        capsys: pytest.CaptureFixture[str]) -> None:
    frame = some_buildings(session, tmp_path)
    frame["code"] = "BG-NEW-" + frame.index.astype(str)
    x, y = shapely.get_coordinates(frame.geometry.iloc[0])[0]
    bowtie = shapely.Polygon([(x, y), (x + 2e-4, y + 2e-4), (x + 2e-4, y), (x, y + 2e-4)])
    frame.loc[frame.index[0], "geometry"] = bowtie
    path = written(frame, tmp_path / "bad.geojson")
    before = buildings_in(session)
    assert main(["import", "buildings", str(path), "--commit"]) == 1
    captured = capsys.readouterr()
    assert "BG-NEW-0" in captured.out  # the report names the feature
    assert "nothing loaded: fix the errors above and run again" in captured.err
    assert buildings_in(session) == before


def test_a_missing_file_is_exit_2_with_the_fix(
        tmp_path: Path, test_database: None, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["import", "grids", str(tmp_path / "nowhere.gpkg")]) == 2
    err = capsys.readouterr().err
    assert "error:" in err and "nowhere.gpkg" in err and "fix:" in err


def test_an_unwritable_report_is_refused_before_the_import_runs(
        session: Session, tmp_path: Path, test_database: None,
        capsys: pytest.CaptureFixture[str]) -> None:
    path = written(some_buildings(session, tmp_path), tmp_path / "buildings.geojson")
    report = tmp_path / "no-such-folder" / "report.json"
    assert main(["import", "buildings", str(path), "--report-json", str(report)]) == 2
    captured = capsys.readouterr()
    assert f"cannot write {report}" in captured.err
    assert "dry run" not in captured.out  # refused before anything ran


def test_export_writes_the_active_grids(tmp_path: Path, test_database: None,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "grids.gpkg"
    assert main(["export", "grids", str(out)]) == 0
    assert f"exported 374 grids to {out}" in capsys.readouterr().out
    assert len(gpd.read_file(out, engine="pyogrio")) == 374


def test_activating_an_unknown_generation_is_exit_2(
        test_database: None, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["generation", "activate", "99"]) == 2
    assert "has no generation 99" in capsys.readouterr().err


@pytest.fixture
def scratch_database(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A database of its own with the demo loaded, for a command that commits."""
    name = f"{settings.db_name}_cli_{os.getpid()}"
    url = recreate_database(str(settings.database_url), name)
    engine = create_engine(url)
    migrate.upgrade(engine)
    with transaction(engine) as session:
        load_demo(session)
    engine.dispose()
    monkeypatch.setenv("DATABASE_URL", url)
    get_settings.cache_clear()
    yield url
    get_settings.cache_clear()
    drop_database(str(settings.database_url), name)


def test_a_clean_commit_loads_and_says_so(
        session: Session, tmp_path: Path, scratch_database: str,
        capsys: pytest.CaptureFixture[str]) -> None:
    frame = some_buildings(session, tmp_path)
    frame["code"] = "BG-NEW-" + frame.index.astype(str)
    path = written(frame, tmp_path / "new.geojson")
    assert main(["import", "buildings", str(path), "--commit"]) == 0
    assert "committed: 20 inserted, 0 updated" in capsys.readouterr().out
    engine = create_engine(scratch_database)
    try:
        with engine.connect() as connection:
            placed = connection.execute(text(
                "SELECT count(*), count(grid_id) FROM building WHERE code LIKE 'BG-NEW-%'")).one()
    finally:
        engine.dispose()
    assert tuple(placed) == (20, 20)
