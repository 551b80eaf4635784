"""Bulk loads check their foreign keys once, as strictly as PostgreSQL's per-row triggers."""

from __future__ import annotations

import numpy as np
import pytest
import shapely
from psycopg.errors import ForeignKeyViolation
from sqlalchemy import text
from sqlalchemy.orm import Session

from data.beigan import STREET_CODE
from geo.bulk_keys import foreign_keys, keys_checked_once
from geo.copyload import copy_rows, ewkb
from geo.errors import Conflict
from geo.registry import BUILDING_COLUMNS, BUILDING_TYPES

MISSING_GRID = 2_000_000_000


def building_row(code: str, grid_id: int | None) -> tuple[object, ...]:
    footprint = shapely.multipolygons([shapely.box(120.27, 30.18, 120.2701, 30.1801)])
    return (STREET_CODE, code, "测试楼", None, "residential", 12.0, 4, grid_id, None,
            ewkb(np.array([footprint], dtype=object))[0])


def some_grid(session: Session) -> int:
    return int(session.scalar(text("SELECT min(id) FROM grid")) or 0)


def load(session: Session, rows: list[tuple[object, ...]]) -> int:
    with session.begin_nested(), \
            keys_checked_once(session, "building", BUILDING_COLUMNS) as keys:
        return copy_rows(session, "building", BUILDING_COLUMNS, BUILDING_TYPES,
                         keys.noting([rows]) if keys else [rows], total=len(rows))


def role(session: Session) -> str:
    return str(session.scalar(text("SELECT current_setting('session_replication_role')")))


def buildings_named(session: Session, prefix: str) -> int:
    return int(session.scalar(text("SELECT count(*) FROM building WHERE code LIKE :p"),
                              {"p": f"{prefix}%"}) or 0)


def test_buildings_keys_are_checked_set_wise(session: Session) -> None:
    keys = foreign_keys(session, "building", BUILDING_COLUMNS)
    assert keys is not None
    assert sorted(key.column for key in keys) == ["estate_id", "grid_id", "street_code"]


def test_a_load_with_its_references_there_goes_in(session: Session) -> None:
    grid = some_grid(session)
    assert load(session, [building_row("BK-1", grid), building_row("BK-2", None)]) == 2
    assert buildings_named(session, "BK-") == 2
    assert role(session) == "origin"
    locked = session.scalar(text("SELECT count(*) FROM pg_locks WHERE locktype = 'relation' "
                                 "AND relation = 'grid'::regclass AND pid = pg_backend_pid()"))
    assert locked  # the referenced grid rows were locked FOR KEY SHARE


def test_a_missing_reference_loads_nothing(session: Session) -> None:
    with pytest.raises(Conflict, match=str(MISSING_GRID)) as refused:
        load(session, [building_row("BK-1", some_grid(session)),
                       building_row("BK-2", MISSING_GRID)])
    assert refused.value.field == "grid_id"
    assert buildings_named(session, "BK-") == 0
    assert role(session) == "origin"


def test_a_role_that_may_not_skip_triggers_keeps_the_per_row_checks(session: Session) -> None:
    session.execute(text("CREATE ROLE gridmap_test_loader NOSUPERUSER"))
    for objects in ("TABLES", "SEQUENCES"):
        session.execute(text(f"GRANT ALL ON ALL {objects} IN SCHEMA public TO gridmap_test_loader"))
    session.execute(text("SET LOCAL ROLE gridmap_test_loader"))
    assert foreign_keys(session, "building", BUILDING_COLUMNS) is None
    with pytest.raises(ForeignKeyViolation):
        load(session, [building_row("BK-1", MISSING_GRID)])
    assert buildings_named(session, "BK-") == 0


def test_a_table_with_its_own_trigger_keeps_the_per_row_checks(session: Session) -> None:
    session.execute(text("CREATE FUNCTION pg_temp.noop() RETURNS trigger LANGUAGE plpgsql "
                         "AS 'BEGIN RETURN NEW; END'"))
    session.execute(text("CREATE TRIGGER audit BEFORE INSERT ON building "
                         "FOR EACH ROW EXECUTE FUNCTION pg_temp.noop()"))
    assert foreign_keys(session, "building", BUILDING_COLUMNS) is None


def test_a_load_leaving_a_key_column_out_keeps_the_per_row_checks(session: Session) -> None:
    columns = [column for column in BUILDING_COLUMNS if column != "estate_id"]
    assert foreign_keys(session, "building", columns) is None
