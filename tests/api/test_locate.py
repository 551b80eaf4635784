"""HTTP point lookups: /api/locate, /api/locate/batch and MapIt's /point/..."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session

from api.routers.locate import LocationOut
from geo.crs import from_wgs84


@pytest.fixture
def known(session: Session) -> list[tuple[str, str, float, float]]:
    """(grid code, community code, lon, lat) for points well inside 30 active grids."""
    return [tuple(row) for row in session.execute(text("""
        SELECT g.code, c.code, ST_X(p), ST_Y(p) FROM grid g
        JOIN community c ON c.id = g.community_id JOIN generation n ON n.id = g.generation_id,
        LATERAL ST_PointOnSurface(g.geom) p WHERE n.active ORDER BY g.code LIMIT 30"""))]


@pytest.mark.parametrize("crs", ["wgs84", "cgcs2000", "gcj02", "bd09", "EPSG:4549"])
def test_locate_in_each_crs(client: TestClient, known: list, crs: str) -> None:
    grid_code, community_code, lon, lat = known[0]
    x, y = from_wgs84(lon, lat, crs)
    response = client.get("/api/locate", params={"lon": x, "lat": y, "crs": crs})
    assert response.status_code == 200
    body = response.json()
    assert LocationOut.model_validate(body).model_dump() == body
    assert body["covered"] is True
    assert body["grid"]["code"] == grid_code
    assert body["community"]["code"] == community_code
    assert body["street"] == {"code": "330109002", "name": "北干街道"}
    assert body["lon"] == pytest.approx(lon, abs=1e-7)
    assert body["grid"]["officer_name"]
    assert "phone" not in response.text


def test_not_covered_is_200_and_empty(client: TestClient) -> None:
    body = client.get("/api/locate", params={"lon": 121.5, "lat": 31.2}).json()
    assert body["covered"] is False
    assert body["grid"] is None and body["community"] is None


@pytest.mark.parametrize(("params", "field", "says"), [
    ({"lon": 30.18, "lat": 120.27}, "lon", "swapped"),
    ({"lon": "nan", "lat": 30.18}, "lon", "finite"),
    ({"lon": 120.27, "lat": "inf"}, "lat", "finite"),
    ({"lon": "east", "lat": 30.18}, "lon", "number"),
    ({"lon": 120.27}, "lat", "required"),
    ({"lon": 120.27, "lat": 30.18, "crs": "mars"}, "crs", "mars"),
    ({"lon": 120.27, "lat": 91}, "lon", "latitude"),
])
def test_bad_points_are_422_problems(client: TestClient, params: dict, field: str,
                                     says: str) -> None:
    response = client.get("/api/locate", params=params)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["field"] == field
    assert says in (problem["detail"] + problem.get("fix", "")).lower()


def test_mapit_point(client: TestClient, known: list) -> None:
    grid_code, community_code, lon, lat = known[0]
    areas = client.get(f"/point/4326/{lon},{lat}").json()
    assert set(areas) == {"330109002", community_code, grid_code}
    assert areas[grid_code]["type"] == "GRD"
    assert areas[grid_code]["parent_area"] == community_code
    assert areas[community_code]["parent_area"] == "330109002"
    assert areas["330109002"]["parent_area"] is None
    assert areas[community_code]["generation_low"] == 1
    assert areas[community_code]["codes"] == {"gb": community_code}
    x, y = from_wgs84(lon, lat, "EPSG:4549")
    assert set(client.get(f"/point/4549/{x},{y}").json()) == set(areas)
    assert client.get("/point/4326/121.5,31.2").json() == {}
    assert client.get("/point/4326/abc").status_code == 422


def test_batch_json_answers_in_order(client: TestClient, known: list) -> None:
    points = [{"id": f"p{i}", "lon": lon, "lat": lat} for i, (_, _, lon, lat) in
              enumerate(known)] + [[121.5, 31.2]]
    response = client.post("/api/locate/batch", json=points)
    assert response.status_code == 200
    rows = response.json()
    assert [row["id"] for row in rows] == [f"p{i}" for i in range(len(known))] + [None]
    assert [row["grid"]["code"] for row in rows[:-1]] == [grid for grid, *_ in known]
    assert rows[-1]["covered"] is False


def test_batch_csv_in_gcj02(client: TestClient, known: list) -> None:
    lines = ["id,lon,lat"] + [f"{i},{x},{y}" for i, (_, _, lon, lat) in enumerate(known)
                              for x, y in [from_wgs84(lon, lat, "gcj02")]]
    response = client.post("/api/locate/batch", params={"crs": "gcj02"},
                           content="\n".join(lines), headers={"content-type": "text/csv"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [row["grid_code"] for row in rows] == [grid for grid, *_ in known]


@pytest.mark.parametrize(("body", "headers", "says"), [
    ("[[120.27, 30.18], [120.27]]", {}, "point 1"),
    ("{\"lon\": 1}", {}, "array"),
    ("not json", {}, "not json"),
    ("[[120.27, \"x\"]]", {}, "point 0"),
    ("x,y\n1,2", {"content-type": "text/csv"}, "lon and lat"),
    ("lon,lat\n120.27,abc", {"content-type": "text/csv"}, "row 1"),
])
def test_bad_batches_are_422_problems(client: TestClient, body: str, headers: dict,
                                      says: str) -> None:
    response = client.post("/api/locate/batch", content=body,
                           headers={"content-type": "application/json", **headers})
    assert response.status_code == 422, response.text
    assert says in response.json()["detail"].lower()


def test_batch_over_the_limit_is_refused(client: TestClient) -> None:
    response = client.post("/api/locate/batch", json=[[120.27, 30.18]] * 10_001)
    assert response.status_code == 422
    assert "10000" in response.json()["detail"]


def test_the_readme_examples_ask_about_one_spot(client: TestClient) -> None:
    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    examples = re.findall(r"curl 'http://127\.0\.0\.1:8000(/api/locate\?[^']+)'", readme)
    assert len(examples) == 5
    grids = {client.get(path).json()["grid"]["code"] for path in examples}
    assert grids == {"330109002044007"}
