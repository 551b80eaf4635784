"""``gridmap locate``: the bulk command end to end, in process, on the test database."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.cli import main
from geo.crs import from_wgs84


def test_gridmap_locate_writes_every_row_with_its_grid_or_error(
        session: Session, tmp_path: Path, test_database: None,
        capsys: pytest.CaptureFixture[str]) -> None:
    known = session.execute(text("""
        SELECT g.code, ST_X(p), ST_Y(p) FROM grid g JOIN generation n ON n.id = g.generation_id,
        LATERAL ST_PointOnSurface(g.geom) p WHERE n.active ORDER BY g.code LIMIT 5""")).all()
    rows = [(f"issue-{i}", *from_wgs84(lon, lat, "gcj02")) for i, (_, lon, lat) in
            enumerate(known)] + [("issue-bad", 30.18, 120.27)]
    source, out = tmp_path / "issues.csv", tmp_path / "located.csv"
    pd.DataFrame(rows, columns=["ref", "x", "y"]).to_csv(source, index=False)

    assert main(["locate", str(source), "--out", str(out), "--lon-col", "x", "--lat-col", "y",
                 "--crs", "gcj02"]) == 0
    assert f"located 6 rows into {out}" in capsys.readouterr().out
    located = pd.read_csv(out, dtype=str)
    assert list(located["ref"]) == [ref for ref, *_ in rows]
    assert list(located["grid_code"][:5]) == [code for code, *_ in known]
    assert set(located["street_code"][:5]) == {"330109002"}
    assert located["error"][:5].isna().all()
    assert "swapped" in located.loc[5, "error"] and pd.isna(located.loc[5, "grid_code"])
    assert {"community_code", "building_code", "on_boundary", "outside_coverage",
            "distance_m", "building_distance_m", "generation"} <= set(located.columns)


def test_gridmap_locate_names_a_missing_column_and_the_fix(
        tmp_path: Path, test_database: None, capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "issues.csv"
    source.write_text("ref,x,y\n1,120.27,30.18\n", encoding="utf-8")
    assert main(["locate", str(source), "--out", str(tmp_path / "out.csv")]) == 2
    assert not (tmp_path / "out.csv").exists()
    stderr = capsys.readouterr().err
    assert "no column lon, lat" in stderr and "--lon-col" in stderr
