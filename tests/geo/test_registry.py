"""The spatial registry in PostGIS: the demo's topology, generations, idempotent loading."""

from __future__ import annotations

import dataclasses

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from data.beigan import STREET_CODE, generate
from geo import registry
from geo.demo import DEMO_SEED, SOURCE, load_demo
from geo.locate import locate
from geo.locator import registry_version
from geo.models import Building, Community, Generation, Grid, Reassignment
from geo.settings import Settings


def scalar(session: Session, sql: str) -> int:
    return int(session.execute(text(sql), {"street": STREET_CODE}).scalar_one())


def test_every_building_lies_inside_exactly_one_grid_its_own(session: Session) -> None:
    buildings = scalar(session, "SELECT count(*) FROM building WHERE street_code = :street")
    assert 7500 <= buildings <= 8500
    covered_once = scalar(session, """
        SELECT count(*) FROM building b
        WHERE b.street_code = :street AND (
            SELECT count(*) FROM grid g JOIN generation n ON n.id = g.generation_id
            WHERE n.active AND n.street_code = :street AND ST_CoveredBy(b.footprint, g.geom)) = 1
        AND EXISTS (SELECT 1 FROM grid g WHERE g.id = b.grid_id
                    AND ST_CoveredBy(b.footprint, g.geom))""")
    assert covered_once == buildings


def test_every_grid_lies_inside_its_community(session: Session) -> None:
    outside = scalar(session, """
        SELECT count(*) FROM grid g JOIN community c ON c.id = g.community_id
        WHERE g.street_code = :street AND NOT ST_CoveredBy(g.geom, c.geom)""")
    assert outside == 0
    assert scalar(session, "SELECT count(*) FROM grid WHERE street_code = :street") >= 240


def test_grids_neither_overlap_nor_leave_gaps(session: Session) -> None:
    overlapping = scalar(session, """
        SELECT count(*) FROM grid a JOIN grid b ON a.id < b.id AND a.geom && b.geom
        AND a.generation_id = b.generation_id
        WHERE a.street_code = :street
        AND ST_Area(ST_Intersection(a.geom, b.geom)::geography) > 0.01""")
    assert overlapping == 0
    gap_m2 = session.execute(text("""
        SELECT ST_Area(ST_Difference(s.geom, (SELECT ST_Union(geom) FROM grid
                                              WHERE street_code = :street))::geography)
        FROM street s WHERE s.street_code = :street"""), {"street": STREET_CODE}).scalar_one()
    assert gap_m2 < 1.0


def test_geometries_are_valid_and_indexed(session: Session) -> None:
    for table, column in [("community", "geom"), ("grid", "geom"), ("estate", "geom"),
                          ("building", "footprint")]:
        assert scalar(session, f"SELECT count(*) FROM {table} WHERE NOT ST_IsValid({column})") == 0
        index = session.execute(text(
            "SELECT indexdef FROM pg_indexes WHERE tablename = :t AND indexdef LIKE '%gist%'"),
            {"t": table}).scalar_one()
        assert column in index


def test_demo_load_is_idempotent(session: Session) -> None:
    before = session.scalar(select(func.count()).select_from(Building))
    assert load_demo(session).loaded is False
    assert session.scalar(select(func.count()).select_from(Building)) == before
    assert session.scalar(select(func.count()).select_from(Generation)
                          .where(Generation.street_code == STREET_CODE)) == 1


def copy_generation(session: Session, source: Generation, *,
                    renamed: dict[str, str] | None = None) -> Generation:
    """A new generation with the same communities and grids as ``source``, some grids
    renamed (a redrawn grid gets a new code)."""
    copy = registry.create_generation(session, street_code=source.street_code, label="redrawn")
    ids = {"new": copy.id, "old": source.id}
    session.execute(text("""
        INSERT INTO community (street_code, generation_id, code, name, kind, geom)
        SELECT street_code, :new, code, name, kind, geom FROM community
        WHERE generation_id = :old"""), ids)
    session.execute(text("""
        INSERT INTO grid (street_code, generation_id, community_id, code, name, officer_id, geom)
        SELECT g.street_code, :new, nc.id, g.code, g.name, g.officer_id, g.geom
        FROM grid g JOIN community c ON c.id = g.community_id
        JOIN community nc ON nc.code = c.code AND nc.generation_id = :new
        WHERE g.generation_id = :old"""), ids)
    for old_code, new_code in (renamed or {}).items():
        session.execute(text("UPDATE grid SET code = :new_code WHERE generation_id = :new "
                             "AND code = :old_code"),
                        {**ids, "old_code": old_code, "new_code": new_code})
    return copy


def test_activating_a_generation_moves_buildings_and_keeps_the_old_one(
        session: Session, client: TestClient, settings: Settings) -> None:
    version_before = registry_version(session)
    first = registry.active_generation(session, STREET_CODE)
    assert first is not None and first.number == 1
    redrawn = session.scalar(select(Grid.code).where(Grid.generation_id == first.id)
                             .order_by(Grid.code))
    assert redrawn is not None
    in_redrawn = session.scalar(select(func.count()).select_from(Building).join(
        Grid, Grid.id == Building.grid_id).where(Grid.code == redrawn))
    second = copy_generation(session, first, renamed={redrawn: "330109002999001"})

    inside = session.execute(text("SELECT ST_X(p), ST_Y(p) FROM grid g, "
                                  "LATERAL ST_PointOnSurface(g.geom) p "
                                  "WHERE g.generation_id = :id AND g.code = :code"),
                             {"id": first.id, "code": redrawn}).one()

    moved = registry.activate_generation(session, second)

    found = locate(session, *inside, settings)  # grid_part was refreshed for generation 2
    assert found.grid is not None and found.grid.code == "330109002999001"
    assert found.generation == 2
    assert registry_version(session) != version_before
    assert moved == in_redrawn > 0
    assert registry.active_generation(session, STREET_CODE) == second
    on_new_grids = session.scalar(select(func.count()).select_from(Building).join(
        Grid, Grid.id == Building.grid_id).where(Grid.generation_id == second.id))
    assert on_new_grids == session.scalar(select(func.count()).select_from(Building))
    recorded = session.execute(select(Reassignment.from_grid, Reassignment.to_grid)
                               .where(Reassignment.generation_id == second.id)).all()
    assert len(recorded) == moved
    assert set(recorded) == {(redrawn, "330109002999001")}
    assert client.get("/api/communities/330109002041").json()["properties"]["generation"] == 2
    old = client.get("/api/communities", params={"generation": 1, "limit": 100}).json()
    assert len(old["features"]) == 40
    assert client.get(f"/api/grids/{redrawn}", params={"generation": 1}).status_code == 200
    assert client.get(f"/api/grids/{redrawn}").status_code == 404


def test_only_one_generation_per_street_can_be_active(session: Session) -> None:
    first = registry.active_generation(session, STREET_CODE)
    assert first is not None
    second = registry.create_generation(session, street_code=STREET_CODE, label="x")
    second.active = True
    with pytest.raises(IntegrityError):
        session.flush()


def test_community_codes_must_be_12_digits(session: Session) -> None:
    generation = registry.active_generation(session, STREET_CODE)
    assert generation is not None
    square = "SRID=4326;MULTIPOLYGON(((0 0,1 0,1 1,0 0)))"
    session.add(Community(street_code=STREET_CODE, generation_id=generation.id, code="3301",
                          name="bad", kind="社区", geom=square))
    with pytest.raises(IntegrityError):
        session.flush()


def empty_street(session: Session) -> None:
    """The street without boundaries, estates or buildings (rolled back with the test)."""
    for table in ("building", "estate", "generation"):
        session.execute(text(f"DELETE FROM {table} WHERE street_code = :street"),
                        {"street": STREET_CODE})


def test_demo_loads_through_the_importer(session: Session) -> None:
    empty_street(session)
    loaded = load_demo(session, generate(DEMO_SEED))
    assert (loaded.communities, loaded.grids, loaded.estates) == (40, 374, 138)
    assert loaded.buildings == scalar(session, "SELECT count(grid_id) FROM building "
                                               "WHERE street_code = :street")
    generation = session.scalars(select(Generation)
                                 .where(Generation.street_code == STREET_CODE)).one()
    assert generation.active and generation.label == f"communities from {SOURCE}"


def test_a_demo_failing_validation_is_refused(session: Session) -> None:
    empty_street(session)
    demo = generate(DEMO_SEED)
    communities = demo.communities.copy()
    communities.loc[communities.index[1], "code"] = communities["code"].iloc[0]
    with pytest.raises(RuntimeError, match="communities fail validation") as refused:
        load_demo(session, dataclasses.replace(demo, communities=communities))
    assert communities["code"].iloc[0] in str(refused.value)
    assert scalar(session, "SELECT count(*) FROM community WHERE street_code = :street") == 0
