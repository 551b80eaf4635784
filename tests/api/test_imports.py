"""POST /api/imports: the report for anyone, a commit for the admin only."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from api.app import create_app
from api.deps import get_session
from data.beigan import STREET_CODE
from geo.ingest.export import export_layer
from geo.models import Building
from geo.settings import Settings

TOKEN = "test-admin-token-123"


@pytest.fixture
def admin_client(settings: Settings, session: Session) -> Iterator[TestClient]:
    app = create_app(settings.model_copy(update={"admin_token": TOKEN}))
    app.dependency_overrides[get_session] = lambda: session
    with TestClient(app) as client:
        yield client


@pytest.fixture
def buildings_file(session: Session, tmp_path: Path) -> Path:
    path = tmp_path / "buildings.gpkg"
    export_layer(session, "buildings", path, street_code=STREET_CODE)
    return path


def upload(client: TestClient, path: Path, headers: dict | None = None,
           **form: str) -> object:
    with path.open("rb") as handle:
        return client.post("/api/imports", files={"file": (path.name, handle)},
                           data={"kind": "buildings", **form}, headers=headers or {})


def test_a_dry_run_returns_the_report(admin_client: TestClient, buildings_file: Path) -> None:
    response = upload(admin_client, buildings_file)
    assert response.status_code == 200
    body = response.json()
    assert body["committed"] is False
    assert body["report"]["ok"] is True
    assert body["report"]["features"] > 7000


@pytest.mark.parametrize(("headers", "status"), [
    ({}, 401), ({"Authorization": "Bearer wrong"}, 403), ({"Authorization": TOKEN}, 401)])
def test_committing_needs_the_admin_token(admin_client: TestClient, buildings_file: Path,
                                          session: Session, headers: dict, status: int) -> None:
    before = session.scalar(select(func.count()).select_from(Building))
    response = upload(admin_client, buildings_file, headers, commit="true")
    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"
    assert session.scalar(select(func.count()).select_from(Building)) == before


def test_without_a_configured_token_nobody_commits(client: TestClient,
                                                   buildings_file: Path) -> None:
    response = upload(client, buildings_file, {"Authorization": f"Bearer {TOKEN}"},
                      commit="true")
    assert response.status_code == 403
    assert "GRIDMAP_ADMIN_TOKEN" in response.json()["fix"]


def test_the_admin_commits(admin_client: TestClient, buildings_file: Path) -> None:
    response = upload(admin_client, buildings_file, {"Authorization": f"Bearer {TOKEN}"},
                      commit="true")
    assert response.status_code == 200
    assert response.json()["committed"] is True
    assert response.json()["updated"] > 7000


def test_a_bad_file_is_a_422_problem(admin_client: TestClient, tmp_path: Path) -> None:
    broken = tmp_path / "broken.geojson"
    broken.write_text('{"type": "FeatureCollection", "features": [{"type": "Feat')
    response = upload(admin_client, broken)
    assert response.status_code == 422
    assert response.json()["field"] == "file"


def test_a_refused_commit_carries_the_report(admin_client: TestClient, tmp_path: Path) -> None:
    path = tmp_path / "points.geojson"
    path.write_text('{"type": "FeatureCollection", "features": [{"type": "Feature", '
                    '"properties": {"code": "P1", "name": "点"}, '
                    '"geometry": {"type": "Point", "coordinates": [120.27, 30.18]}}]}')
    response = upload(admin_client, path, {"Authorization": f"Bearer {TOKEN}"}, commit="true")
    assert response.status_code == 422
    report = response.json()["report"]
    assert report["ok"] is False and report["findings"][0]["feature_id"] == "P1"
