"""The API's in-memory locator and the bulk file engine answer exactly as PostGIS does."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.crs import from_wgs84
from geo.locate import locate_many
from geo.locate_bulk import locate_file
from geo.locator import Locator, LocatorCache, registry_version
from geo.settings import Settings


@pytest.fixture
def locator(session: Session, settings: Settings) -> Locator:
    return Locator.load(session, settings, registry_version(session))


def edge_points(session: Session, count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Random points over the street, half of them within a few metres of a grid edge."""
    west, south, east, north = session.execute(text(
        "SELECT ST_XMin(geom), ST_YMin(geom), ST_XMax(geom), ST_YMax(geom) FROM street "
        "WHERE street_code = '330109002'")).one()
    rng = np.random.default_rng(seed)
    lon = rng.uniform(west - 0.003, east + 0.003, count)
    lat = rng.uniform(south - 0.003, north + 0.003, count)
    edges = session.execute(text("""
        SELECT ST_X(p), ST_Y(p) FROM (SELECT (ST_DumpPoints(geom)).geom AS p FROM grid g
        JOIN generation n ON n.id = g.generation_id WHERE n.active) v""")).all()
    vertices = np.array(edges)[rng.integers(0, len(edges), count // 2)]
    jitter = rng.normal(0, 4e-5, vertices.shape)
    lon[: count // 2], lat[: count // 2] = (vertices + jitter).T
    return lon, lat


def test_the_locator_agrees_with_postgis(session: Session, settings: Settings,
                                         locator: Locator) -> None:
    lon, lat = edge_points(session, 100_000, seed=11)
    from_db = locate_many(session, lon, lat, settings)
    from_memory = locator.locate(lon, lat)
    for db, memory in zip(from_db, from_memory, strict=True):
        assert (db.grid, db.community, db.street) == (memory.grid, memory.community,
                                                      memory.street)
        assert (db.on_boundary, db.outside_coverage) == (memory.on_boundary,
                                                        memory.outside_coverage)
        assert db.distance_m == pytest.approx(memory.distance_m, abs=0.02)
        assert (db.building and db.building.code) == (memory.building and memory.building.code)
    covered = sum(1 for found in from_db if found.covered)
    assert covered > 80_000
    assert sum(1 for found in from_db if found.on_boundary) > 10_000
    assert sum(1 for found in from_db if found.outside_coverage) > 300


def test_the_cache_rebuilds_when_the_registry_changes(session: Session,
                                                      settings: Settings) -> None:
    cache = LocatorCache(settings, refresh_seconds=0.0)
    first = cache.refresh(lambda: session)
    assert cache.refresh(lambda: session) is first
    session.execute(text("UPDATE registry_version SET version = version + 1"))
    assert cache.refresh(lambda: session) is not first


def test_a_file_of_points_with_bad_rows(session: Session, settings: Settings,
                                        tmp_path: Path) -> None:
    lon, lat = edge_points(session, 200, seed=3)
    gcj_lon, gcj_lat = from_wgs84(lon, lat, "gcj02")
    rows = pd.DataFrame({"id": range(200), "x": gcj_lon, "y": gcj_lat}).astype(str)
    rows.loc[5, "x"] = "not a number"
    rows.loc[6, ["x", "y"]] = ["30.18", "120.27"]
    source = tmp_path / "points.csv"
    rows.to_csv(source, index=False)
    for out in (tmp_path / "out.csv", tmp_path / "out.parquet"):
        count = locate_file(lambda: session, settings, source, out, lon_col="x", lat_col="y",
                            crs="gcj02", chunk_rows=64)
        assert count == 200
        located = pd.read_csv(out, dtype=str) if out.suffix == ".csv" else pd.read_parquet(out)
        assert list(located["id"].astype(str)) == [str(i) for i in range(200)]
        assert "number" in located.loc[5, "error"] and "swapped" in located.loc[6, "error"]
        expected = [found.grid.code if found.grid else None
                    for found in locate_many(session, lon, lat, settings)]
        good = [i for i in range(200) if i not in (5, 6)]
        got = [None if pd.isna(code) else code for code in located["grid_code"]]
        assert [got[i] for i in good] == [expected[i] for i in good]


def test_a_projected_file_with_a_row_outside_the_crs_area(session: Session, settings: Settings,
                                                          tmp_path: Path) -> None:
    lon, lat = edge_points(session, 100, seed=7)
    east, north = from_wgs84(lon, lat, "EPSG:4549")
    rows = pd.DataFrame({"id": range(100), "x": east, "y": north}).astype(str)
    rows.loc[40, ["x", "y"]] = ["120.27", "30.18"]  # degrees sent as Gauss-Kruger metres
    rows.loc[41, "y"] = ""
    source, out = tmp_path / "survey.csv", tmp_path / "located.csv"
    rows.to_csv(source, index=False)
    assert locate_file(lambda: session, settings, source, out, lon_col="x", lat_col="y",
                       crs="EPSG:4549", chunk_rows=32) == 100
    located = pd.read_csv(out, dtype=str)
    assert list(located["id"]) == [str(i) for i in range(100)]
    assert "area of use of EPSG:4549" in located.loc[40, "error"]
    assert "number" in located.loc[41, "error"]
    assert located.loc[[40, 41], "grid_code"].isna().all()
    good = [i for i in range(100) if i not in (40, 41)]
    assert located.loc[good, "error"].isna().all()
    expected = [found.grid.code if found.grid else None
                for found in locate_many(session, lon, lat, settings)]
    got = [None if pd.isna(code) else code for code in located["grid_code"]]
    assert [got[i] for i in good] == [expected[i] for i in good]


def test_one_point_at_a_time_answers_as_the_batch(session: Session, locator: Locator) -> None:
    lon, lat = edge_points(session, 400, seed=5)
    assert [locator.locate_point(float(x), float(y)) for x, y in zip(lon, lat, strict=True)] \
        == locator.locate(lon, lat)
