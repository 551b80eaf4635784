"""The registry's GeoJSON endpoints, over the Beigan demo in PostGIS."""

from __future__ import annotations

import csv
import socket
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from geo.settings import Settings

COMMUNITIES_CSV = Path(__file__).parents[2] / "data" / "beigan_communities.csv"
BOXUE = "330109002041"


def official_communities() -> dict[str, str]:
    with COMMUNITIES_CSV.open(encoding="utf-8") as handle:
        return {row["code"]: row["name"] for row in csv.DictReader(handle)}


def test_communities_are_the_40_official_ones(client: TestClient) -> None:
    response = client.get("/api/communities", params={"limit": 100})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/geo+json"
    body = response.json()
    assert body["type"] == "FeatureCollection"
    found = {f["properties"]["code"]: f["properties"]["name"] for f in body["features"]}
    assert found == official_communities()
    assert len(found) == 40
    assert {f["geometry"]["type"] for f in body["features"]} == {"MultiPolygon"}
    assert found[BOXUE] == "博学路社区"


def test_one_community_by_code(client: TestClient) -> None:
    feature = client.get(f"/api/communities/{BOXUE}").json()
    assert feature["type"] == "Feature"
    assert feature["id"] == BOXUE
    assert feature["properties"]["kind"] == "社区"
    assert feature["properties"]["generation"] == 1


def test_street_is_beigan(client: TestClient) -> None:
    body = client.get("/api/streets").json()
    assert [f["properties"]["name"] for f in body["features"]] == ["北干街道"]
    assert client.get("/api/streets/330109002").json()["properties"]["district_code"] == "330109"


def test_paging_follows_next_links_through_every_grid(client: TestClient) -> None:
    seen: list[str] = []
    url: str | None = "/api/grids?limit=50"
    while url:
        body = client.get(url).json()
        assert body["numberReturned"] == len(body["features"]) <= 50
        seen += [f["id"] for f in body["features"]]
        url = next((link["href"] for link in body["links"] if link["rel"] == "next"), None)
    everything = client.get("/api/grids", params={"limit": 1000}).json()["features"]
    assert seen == [f["id"] for f in everything]
    assert len(seen) == len(set(seen)) >= 40 * 6


def test_grids_filtered_by_community(client: TestClient) -> None:
    features = client.get("/api/grids", params={"community": BOXUE}).json()["features"]
    assert 6 <= len(features) <= 15
    assert {f["properties"]["community_code"] for f in features} == {BOXUE}
    assert all(f["id"].startswith(BOXUE) for f in features)


def test_grid_output_names_the_officer_but_never_their_phone(client: TestClient) -> None:
    response = client.get("/api/grids", params={"community": BOXUE})
    feature = response.json()["features"][0]
    assert feature["properties"]["officer_name"]
    assert "phone" not in response.text


def test_buildings_filtered_by_grid_and_estate(client: TestClient) -> None:
    grid = client.get("/api/grids", params={"community": BOXUE}).json()["features"][0]["id"]
    buildings = client.get("/api/buildings", params={"grid": grid, "limit": 1000}).json()
    assert buildings["features"]
    assert {f["properties"]["grid_code"] for f in buildings["features"]} == {grid}
    estate = client.get("/api/estates", params={"community": BOXUE}).json()["features"][0]["id"]
    in_estate = client.get("/api/buildings", params={"estate": estate}).json()["features"]
    assert {f["properties"]["estate_code"] for f in in_estate} == {estate}


def test_bbox_returns_only_what_intersects_it(client: TestClient) -> None:
    bbox = (120.265, 30.175, 120.275, 30.185)
    features = client.get("/api/buildings", params={
        "bbox": ",".join(map(str, bbox)), "limit": 1000}).json()["features"]
    assert features
    for feature in features:
        lons = [x for ring in feature["geometry"]["coordinates"][0] for x, _ in ring]
        lats = [y for ring in feature["geometry"]["coordinates"][0] for _, y in ring]
        assert max(lons) >= bbox[0] and min(lons) <= bbox[2]
        assert max(lats) >= bbox[1] and min(lats) <= bbox[3]
    outside = client.get("/api/buildings", params={"bbox": "0,0,1,1"}).json()
    assert outside["features"] == []


@pytest.mark.parametrize(("bbox", "says"), [
    ("120.2,30.1,120.3", "4 numbers"),
    ("120.2,30.1,120.3,30.2,1", "4 numbers"),
    ("a,30.1,120.3,30.2", "not a number"),
    ("120.2,30.1,190,30.2", "longitude 190"),
    ("120.2,-95,120.3,30.2", "latitude -95"),
    ("120.3,30.1,120.2,30.2", "min longitude"),
    ("120.2,30.2,120.3,30.1", "min latitude"),
    ("nan,30.1,120.3,30.2", "finite"),
])
def test_malformed_bbox_is_a_422_problem_saying_what(client: TestClient, bbox: str,
                                                     says: str) -> None:
    response = client.get("/api/buildings", params={"bbox": bbox})
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == 422
    assert problem["field"] == "bbox"
    assert says in problem["detail"]
    assert "minLon,minLat,maxLon,maxLat" in problem["fix"]


def test_limit_over_the_maximum_is_refused_clearly(client: TestClient) -> None:
    response = client.get("/api/buildings", params={"limit": 100000})
    assert response.status_code == 422
    assert response.json()["field"] == "limit"
    assert "maximum" in response.json()["detail"]


@pytest.mark.parametrize("params", [{"limit": 0}, {"limit": "many"}, {"offset": -1},
                                    {"community": "12"}, {"generation": 0}])
def test_bad_paging_and_filters_are_422_problems(client: TestClient, params: dict) -> None:
    response = client.get("/api/grids", params=params)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["field"] == next(iter(params))


@pytest.mark.parametrize(("path", "field"), [
    ("/api/grids/%00", "code"), ("/api/buildings/B%00", "code"),
    ("/api/buildings?grid=%00", "grid"), ("/api/buildings?estate=x%00y", "estate"),
])
def test_a_nul_byte_in_a_code_is_a_422_problem(client: TestClient, path: str,
                                               field: str) -> None:
    response = client.get(path)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["field"] == field
    assert "NUL" in problem["detail"] and "send the code as printed" in problem["detail"]


@pytest.mark.parametrize("offset", [2**31, 2**63, 10**30])
def test_offset_past_the_maximum_is_refused_saying_so(client: TestClient, offset: int) -> None:
    response = client.get("/api/grids", params={"offset": offset})
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["field"] == "offset"
    assert str(2**31 - 1) in problem["detail"]
    assert client.get("/api/grids", params={"offset": 2**31 - 1}).json()["features"] == []


@pytest.mark.parametrize("path", ["/api/communities/330109002999", "/api/grids/nope",
                                  "/api/buildings/330109002B99999", "/api/estates/x",
                                  "/api/streets/330109001"])
def test_unknown_code_is_a_404_problem(client: TestClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["title"] == "Not found"


def test_unknown_layer_is_a_problem_not_a_500(client: TestClient) -> None:
    response = client.get("/api/rivers/1")
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"


def test_earlier_generation_stays_queryable(client: TestClient) -> None:
    response = client.get("/api/communities", params={"generation": 99})
    assert response.status_code == 200
    assert response.json()["features"] == []
    assert client.get(f"/api/communities/{BOXUE}", params={"generation": 1}).status_code == 200


def test_health_reports_postgis(client: TestClient) -> None:
    body = client.get("/health").json()
    assert body["status"] == "ok"
    assert body["postgis"].startswith("3.")


def test_health_is_a_503_problem_when_the_database_is_unreachable(settings: Settings) -> None:
    with socket.socket() as probe:  # a port nothing listens on once the socket is closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    unreachable = settings.model_copy(update={
        "database_url": f"postgresql://gridmap@127.0.0.1:{port}/gridmap"})
    with TestClient(create_app(unreachable)) as client:
        response = client.get("/health")
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["title"] == "Database unavailable"
    assert "gridmap db up" in problem["fix"]


def test_openapi_is_self_contained(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    refs: list[str] = []

    def collect(node: object) -> None:
        if isinstance(node, dict):
            refs.extend(v for k, v in node.items() if k == "$ref")
            for value in node.values():
                collect(value)
        elif isinstance(node, list):
            for value in node:
                collect(value)

    collect(spec)
    assert refs and all(ref.startswith("#/") for ref in refs)
    assert {"/api/communities", "/api/grids", "/api/buildings", "/health"} <= set(spec["paths"])
