"""HTTP point lookups: /api/locate, /api/locate/batch and MapIt's /point/..."""

from __future__ import annotations

import csv
import io
import math
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
    ({"lon": 120.27, "lat": 91}, "lat", "latitude"),
    ({"lon": 181, "lat": 30.18}, "lon", "longitude"),
])
def test_bad_points_are_422_problems(client: TestClient, params: dict, field: str,
                                     says: str) -> None:
    response = client.get("/api/locate", params=params)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["field"] == field
    assert says in (problem["detail"] + problem.get("fix", "")).lower()


def beside_the_street(session: Session, metres: float) -> tuple[float, float]:
    """A point ``metres`` east of the street's eastern edge, outside every grid."""
    east_lon, lat = session.execute(text("""
        SELECT ST_XMax(geom), (ST_YMin(geom) + ST_YMax(geom)) / 2 FROM street
        WHERE street_code = '330109002'""")).one()
    edge_lon, edge_lat = session.execute(text("""
        SELECT ST_X(p), ST_Y(p) FROM street,
        LATERAL ST_ClosestPoint(geom, ST_SetSRID(ST_MakePoint(:lon, :lat), 4326)) p
        WHERE street_code = '330109002'"""), {"lon": east_lon + 0.01, "lat": lat}).one()
    return edge_lon + metres / (111_320 * math.cos(math.radians(edge_lat))), edge_lat


def test_outside_coverage_takes_the_nearest_grid_and_mapit_answers_nothing(
        client: TestClient, session: Session) -> None:
    lon, lat = beside_the_street(session, 100)
    body = client.get("/api/locate", params={"lon": lon, "lat": lat}).json()
    assert body["covered"] is True and body["outside_coverage"] is True
    assert body["grid"]["code"] and body["community"]["code"]
    assert 60 < body["distance_m"] <= 120
    assert client.get(f"/point/4326/{lon},{lat}").json() == {}
    far = client.get("/api/locate", params=dict(zip(("lon", "lat"),
                                                    beside_the_street(session, 1000),
                                                    strict=True))).json()
    assert far["covered"] is False and far["outside_coverage"] is False
    assert far["grid"] is None and far["distance_m"] is None


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


@pytest.mark.parametrize(("body", "says"), [
    ("[[" + "9" * 400 + ", 30.18]]", "point 0"),  # an integer too big for a float
    ("[[" + "1" * 5000 + ", 30.18]]", "4,300 digits"),  # over Python's 4,300-digit int limit
    ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
])
def test_json_batches_python_cannot_parse_are_422_problems(client: TestClient, body: str,
                                                           says: str) -> None:
    response = client.post("/api/locate/batch", content=body,
                           headers={"content-type": "application/json"})
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["field"] in ("body", "body[0]")
    assert says in problem["detail"].lower()
    assert problem["fix"]


def test_a_csv_field_over_128_kb_is_a_422_problem(client: TestClient) -> None:
    body = "id,lon,lat\n1,120.27,30.18\n\"" + "x" * 200_000 + "\",120.27,30.18\n"
    response = client.post("/api/locate/batch", content=body,
                           headers={"content-type": "text/csv"})
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["field"] == "body"
    assert "after 1 point(s)" in problem["detail"] and "128 KB" in problem["fix"]


GOOD = "[120.27, 30.18]"


@pytest.mark.parametrize(("body", "crs", "field", "says"), [
    (f"[{GOOD}, [30.18, 120.27]]", "wgs84", "body[1]", "swapped"),
    (f"[{GOOD}, {GOOD}, {{\"lon\": 120.27, \"lat\": 91}}]", "wgs84", "body[2]", "lat out"),
    (f"[{GOOD}, [181, 30.18]]", "wgs84", "body[1]", "lon out"),
    (f"[{GOOD}, [NaN, 30.18]]", "wgs84", "body[1]", "finite"),
    (f"[{GOOD}, [120.27, Infinity]]", "gcj02", "body[1]", "finite"),
    ("[[526004.2, 3340097.9], [120.27, 30.18]]", "EPSG:4549", "body[1]", "area of use"),
    ("lon,lat\n120.27,30.18\n30.18,120.27", "wgs84", "row 2", "swapped"),
    ("lon,lat\n120.27,30.18\n120.27,30.18\nnan,30.18", "wgs84", "row 3", "finite"),
    ("id,lon,lat\na,120.27,-95", "bd09", "row 1", "lat out"),
])
def test_bad_rows_in_a_batch_are_422_problems_naming_the_row(
        client: TestClient, body: str, crs: str, field: str, says: str) -> None:
    kind = "text/csv" if body.startswith(("lon", "id")) else "application/json"
    response = client.post("/api/locate/batch", params={"crs": crs}, content=body,
                           headers={"content-type": kind})
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["field"] == field
    assert problem["detail"].startswith(field) and says in problem["detail"]
    assert problem["fix"]


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
