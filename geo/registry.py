"""Writes to the spatial registry: streets, generations, boundaries, estates, buildings.

Rows arrive as GeoDataFrames in EPSG:4326 (validated by the caller) and go in with COPY,
inside the caller's transaction: boundaries and estates into a staging table, then one
INSERT ... SELECT that resolves parent codes to ids; new buildings straight into ``building``
with their grid and estate placed in Python (an upsert through staging when codes exist).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from itertools import repeat
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from numpy.typing import NDArray
from psycopg.errors import UniqueViolation
from sqlalchemy import func, insert, select, text, update
from sqlalchemy.orm import Session

from geo.bulk_keys import keys_checked_once
from geo.copyload import copy_rows, ewkb, stage
from geo.errors import Conflict, NotFound
from geo.ingest.overlay import grid_shares
from geo.models import Generation, Reassignment, Street

logger = logging.getLogger(__name__)

GRID_PART_VERTICES = 128  # as in MapIt: small enough for fast ST_Covers, few enough parts


def upsert_street(session: Session, *, street_code: str, name: str, district_code: str,
                  frame: gpd.GeoDataFrame | None = None) -> None:
    """Create or update a street; its geometry is the union of ``frame``'s when given."""
    session.merge(Street(street_code=street_code, name=name, district_code=district_code))
    session.flush()
    bump_version(session, street_code)
    if frame is not None:
        stage(session, "street_in", frame, [])
        session.execute(text("UPDATE street SET geom = (SELECT ST_Multi(ST_Union(geom)) "
                             "FROM street_in) WHERE street_code = :street"),
                        {"street": street_code})


def create_generation(session: Session, *, street_code: str, label: str,
                      source: str | None = None) -> Generation:
    """A new, inactive boundary generation numbered after the street's last one."""
    last = session.scalar(select(func.max(Generation.number))
                          .where(Generation.street_code == street_code))
    generation = Generation(street_code=street_code, number=(last or 0) + 1, label=label,
                            source=source)
    session.add(generation)
    session.flush()
    return generation


def active_generation(session: Session, street_code: str) -> Generation | None:
    return session.scalar(select(Generation).where(Generation.street_code == street_code,
                                                   Generation.active))


def activate_generation(session: Session, generation: Generation) -> int:
    """Make ``generation`` its street's active one and re-assign buildings to its grids;
    returns how many buildings changed grid (each recorded in ``reassignment``)."""
    if generation.active:
        raise Conflict(f"generation {generation.number} is already active")
    session.execute(update(Generation).where(Generation.street_code == generation.street_code,
                                             Generation.active).values(active=False))
    session.flush()
    generation.active = True
    generation.activated_at = func.now()
    session.flush()
    refresh_grid_parts(session, generation.street_code)
    session.execute(text("""
        UPDATE street SET geom = (SELECT ST_Multi(ST_Union(geom)) FROM community
                                  WHERE generation_id = :generation)
        WHERE street_code = :street"""),
                    {"generation": generation.id, "street": generation.street_code})
    moved = assign_buildings(session, generation.street_code, generation)
    bump_version(session, generation.street_code)
    return moved


def refresh_grid_parts(session: Session, street_code: str) -> None:
    """Rebuild the street's subdivided copies of its active grids (see ``GridPart``)."""
    params = {"street": street_code, "vertices": GRID_PART_VERTICES}
    session.execute(text("DELETE FROM grid_part WHERE street_code = :street"), params)
    session.execute(text("""
        INSERT INTO grid_part (street_code, grid_id, geom)
        SELECT g.street_code, g.id, ST_Subdivide(g.geom, :vertices)
        FROM grid g JOIN generation n ON n.id = g.generation_id
        WHERE n.street_code = :street AND n.active"""), params)


def copy_communities(session: Session, source: Generation, target: Generation) -> int:
    """Copy ``source``'s communities into ``target`` (for grids redrawn inside them)."""
    return _insert(session, """
        INSERT INTO community (street_code, generation_id, code, name, kind, geom)
        SELECT street_code, :target, code, name, kind, geom FROM community
        WHERE generation_id = :source ORDER BY code""", source=source.id, target=target.id)


def load_communities(session: Session, generation: Generation, frame: gpd.GeoDataFrame) -> int:
    """Communities of ``generation``; ``frame`` has ``code``, ``name``, ``kind``."""
    stage(session, "community_in", frame, ["code", "name", "kind"])
    return _insert(session, """
        INSERT INTO community (street_code, generation_id, code, name, kind, geom)
        SELECT :street, :generation, code, name, kind, ST_Multi(geom) FROM community_in
        ORDER BY code""", street=generation.street_code, generation=generation.id)


def load_grids(session: Session, generation: Generation, frame: gpd.GeoDataFrame) -> int:
    """Grids of ``generation``, each under a community of the same generation; ``frame`` has
    ``code``, ``name``, ``community_code`` and optionally ``officer_name``/``officer_phone``."""
    columns = ["code", "name", "community_code", "officer_name", "officer_phone"]
    stage(session, "grid_in", frame.reindex(columns=[*columns, "geometry"]), columns)
    _require_parents(session, "grid_in", "community_code", """
        SELECT code FROM community WHERE generation_id = :generation""",
                     generation=generation.id)
    session.execute(text("""
        INSERT INTO officer (street_code, name, phone)
        SELECT DISTINCT CAST(:street AS varchar), i.officer_name, i.officer_phone FROM grid_in i
        WHERE i.officer_name IS NOT NULL AND NOT EXISTS (
            SELECT 1 FROM officer o WHERE o.street_code = :street AND o.name = i.officer_name
            AND o.phone IS NOT DISTINCT FROM i.officer_phone)"""),
                    {"street": generation.street_code})
    return _insert(session, """
        INSERT INTO grid (street_code, generation_id, community_id, code, name, officer_id, geom)
        SELECT CAST(:street AS varchar), :generation, c.id, i.code, i.name,
               (SELECT min(o.id) FROM officer o WHERE o.street_code = :street
                AND o.name = i.officer_name AND o.phone IS NOT DISTINCT FROM i.officer_phone),
               ST_Multi(i.geom)
        FROM grid_in i JOIN community c ON c.code = i.community_code
                                       AND c.generation_id = :generation
        ORDER BY i.code""", street=generation.street_code, generation=generation.id)


def load_estates(session: Session, street_code: str, frame: gpd.GeoDataFrame) -> int:
    """Estates (小区); ``frame`` has ``code``, ``name``, ``community_code`` and optionally the
    property company, its contact and the owners' committee."""
    columns = ["code", "name", "community_code", "property_company", "property_contact",
               "owners_committee"]
    stage(session, "estate_in", frame.reindex(columns=[*columns, "geometry"]), columns)
    count = _insert(session, f"""
        INSERT INTO estate (street_code, {", ".join(columns)}, geom)
        SELECT :street, {", ".join(columns)}, ST_Multi(geom) FROM estate_in ORDER BY code""",
                    street=street_code)
    assign_buildings(session, street_code)
    bump_version(session, street_code)
    return count


@dataclass(frozen=True)
class Upserted:
    """Rows a load inserted and rows it updated (same code, new values)."""

    inserted: int
    updated: int


def load_buildings(session: Session, street_code: str, frame: gpd.GeoDataFrame, *,
                   grid_codes: Iterable[str | None] | None = None) -> Upserted:
    """Insert building footprints, or update those whose code exists; ``frame`` has ``code``,
    ``name``, ``use`` and optionally ``address``, ``height_m``, ``floors``. Each is placed
    in the active grid and the estate holding the largest share of its footprint;
    ``grid_codes`` gives the grids when the caller has placed them already, against the
    same active grids (as :func:`geo.ingest.validate.validate` does).

    New codes are copied straight into ``building``, in code order; a file repeating codes
    that exist goes through a staging table and one upsert.
    """
    grids = _areas(session, GRID_AREAS, street_code)
    estates = _areas(session, ESTATE_AREAS, street_code)
    if grid_codes is None:
        grid_codes = grids.codes_at(_largest_share(_footprints(frame), grids))
    ordered = frame.assign(grid_id=grids.ids_of(grid_codes)).sort_values(
        "code", kind="stable", ignore_index=True)
    inserted = None if _codes_exist(session, street_code, ordered["code"]) else (
        _copy_new(session, street_code, ordered, estates))
    upserted = Upserted(inserted, 0) if inserted is not None else (
        _upsert_buildings(session, street_code, ordered, estates))
    bump_version(session, street_code)
    return upserted


GRIDS_OF_STREET = """
    SELECT g.code, ST_AsBinary(g.geom) FROM grid g JOIN generation n ON n.id = g.generation_id
    WHERE n.street_code = :street AND n.active"""
GRID_AREAS = """
    SELECT g.id, g.code, ST_AsBinary(g.geom) FROM grid g
    JOIN generation n ON n.id = g.generation_id WHERE n.street_code = :street AND n.active"""
ESTATE_AREAS = "SELECT id, code, ST_AsBinary(geom) FROM estate WHERE street_code = :street"
BUILDING_COLUMNS = ("street_code", "code", "name", "address", "use", "height_m", "floors",
                    "grid_id", "estate_id", "footprint")
BUILDING_TYPES = ("text", "text", "text", "text", "text", "float8", "int4", "int4", "int4",
                  "bytea")
ESTATE_MIN_SHARE = 0.5  # a building belongs to an estate holding more than half of it
_CHUNK_ROWS = 10_000  # placed and encoded while PostgreSQL inserts the previous chunk
_UPSERT_SQL = f"""
    INSERT INTO building ({", ".join(BUILDING_COLUMNS)})
    SELECT {", ".join(BUILDING_COLUMNS)} FROM building_in ORDER BY code
    ON CONFLICT (street_code, code) DO UPDATE SET
        name = EXCLUDED.name, address = EXCLUDED.address, use = EXCLUDED.use,
        height_m = EXCLUDED.height_m, floors = EXCLUDED.floors, grid_id = EXCLUDED.grid_id,
        estate_id = EXCLUDED.estate_id, footprint = EXCLUDED.footprint
    RETURNING xmax = 0"""


@dataclass(frozen=True)
class _Areas:
    """A street's grids or estates in code order: ids, codes and geometries."""

    ids: NDArray[np.int64]
    codes: NDArray[np.object_]
    geoms: NDArray[np.object_]

    def codes_at(self, index: NDArray[np.intp]) -> list[str | None]:
        """Codes of the areas at positions ``index``; None where it is -1 (no area)."""
        return [self.codes[i] if i >= 0 else None for i in index.tolist()]

    def ids_at(self, index: NDArray[np.intp]) -> list[int | None]:
        """Ids of the areas at positions ``index``; None where it is -1 (no area)."""
        return [int(self.ids[i]) if i >= 0 else None for i in index.tolist()]

    def ids_of(self, codes: Iterable[str | None]) -> list[int | None]:
        """Ids of areas named by code; None for None or an unknown code."""
        lookup = dict(zip(self.codes.tolist(), self.ids.tolist(), strict=True))
        return [lookup.get(code) for code in codes]


def _areas(session: Session, sql: str, street_code: str) -> _Areas:
    rows = sorted(session.execute(text(sql), {"street": street_code}).all(),
                  key=lambda row: row[1])
    return _Areas(np.array([row[0] for row in rows], dtype=np.int64),
                  np.array([row[1] for row in rows], dtype=object),
                  shapely.from_wkb([bytes(row[2]) for row in rows]))


def _largest_share(footprints: NDArray[np.object_], areas: _Areas, *,
                   min_share: float = 0.0) -> NDArray[np.intp]:
    """For each footprint, the position of the area (grid, estate) holding the largest share
    of it, ties to the lowest code; -1 where no area holds more than ``min_share``."""
    placed = np.full(len(footprints), -1, dtype=np.intp)
    if not len(areas.geoms):
        return placed
    footprint, area, share = grid_shares(footprints, areas.geoms)
    keep = share > min_share
    footprint, area, share = footprint[keep], area[keep], share[keep]
    order = np.lexsort((area, -share, footprint))  # areas are in code order
    first = order[np.r_[True, footprint[order][1:] != footprint[order][:-1]]] if len(order) \
        else order
    placed[footprint[first]] = area[first]
    return placed


def _footprints(frame: gpd.GeoDataFrame) -> NDArray[np.object_]:
    """The frame's geometries as MultiPolygons, as ``building.footprint`` holds them."""
    geoms = np.asarray(frame.geometry.array, dtype=object)
    single = shapely.get_type_id(geoms) == 3
    if single.any():
        geoms = geoms.copy()
        geoms[single] = shapely.multipolygons(geoms[single], indices=np.arange(single.sum()))
    return geoms


def _building_rows(street_code: str, frame: gpd.GeoDataFrame,
                   estates: _Areas) -> Iterator[list[tuple[object, ...]]]:
    """Rows for ``building`` (BUILDING_COLUMNS), a chunk at a time; estates are placed per
    chunk, so that PostgreSQL inserts one chunk while the next is computed."""
    for start in range(0, len(frame), _CHUNK_ROWS):
        chunk = frame.iloc[start:start + _CHUNK_ROWS]
        footprints = _footprints(chunk)
        estate = estates.ids_at(_largest_share(footprints, estates, min_share=ESTATE_MIN_SHARE))
        yield list(zip(repeat(street_code), _nullable(chunk, "code"), _nullable(chunk, "name"),
                       _nullable(chunk, "address"),
                       [use or "residential" for use in _nullable(chunk, "use")],
                       _nullable(chunk, "height_m", float), _nullable(chunk, "floors", _rounded),
                       _nullable(chunk, "grid_id"), estate, ewkb(footprints)))


def _nullable(frame: pd.DataFrame, column: str,
              convert: Callable[[Any], object] | None = None) -> list[Any]:
    """A column's values as Python objects, None where missing (all None without the column)."""
    if column not in frame:
        return [None] * len(frame)
    values = frame[column]
    objects = values.astype(object).where(values.notna(), None).tolist()
    return objects if convert is None else [None if v is None else convert(v) for v in objects]


def _rounded(value: Any) -> int:
    """A number as an integer, halves up, as PostgreSQL casts a positive numeric."""
    return math.floor(float(value) + 0.5)


def _codes_exist(session: Session, street_code: str, codes: pd.Series) -> bool:
    """Whether the street has a building with one of ``codes`` (its codes are fewer to send
    than a file's)."""
    existing = session.scalars(text("SELECT code FROM building WHERE street_code = :street"),
                               {"street": street_code}).all()
    return not set(existing).isdisjoint(codes.tolist())


def _copy_new(session: Session, street_code: str, frame: gpd.GeoDataFrame,
              estates: _Areas) -> int | None:
    """Copy buildings with new codes straight into ``building``; None (and nothing copied)
    when one exists after all, committed meanwhile by another transaction."""
    rows = _building_rows(street_code, frame, estates)
    try:
        with session.begin_nested(), \
                keys_checked_once(session, "building", BUILDING_COLUMNS) as keys:
            return copy_rows(session, "building", BUILDING_COLUMNS, BUILDING_TYPES,
                             keys.noting(rows) if keys else rows, total=len(frame))
    except UniqueViolation:
        return None


def _upsert_buildings(session: Session, street_code: str, frame: gpd.GeoDataFrame,
                      estates: _Areas) -> Upserted:
    session.execute(text("DROP TABLE IF EXISTS pg_temp.building_in"))
    session.execute(text(f"CREATE TEMP TABLE building_in ON COMMIT DROP AS SELECT "
                         f"{', '.join(BUILDING_COLUMNS)} FROM building WITH NO DATA"))
    copy_rows(session, "building_in", BUILDING_COLUMNS, BUILDING_TYPES,
              _building_rows(street_code, frame, estates), total=len(frame))
    inserted = session.scalars(text(_UPSERT_SQL)).all()
    added = sum(inserted)
    return Upserted(inserted=added, updated=len(inserted) - added)


def assign_buildings(session: Session, street_code: str,
                     generation: Generation | None = None) -> int:
    """Place every building of the street in the active grid and the estate holding the
    largest share of its footprint (ties to the lowest code; estates need over half).

    Returns how many buildings changed grid code; with ``generation`` given, each such move
    is recorded in ``reassignment`` against it.
    """
    moved = session.execute(text(ASSIGN_SQL), {"street": street_code}).all()
    if generation is not None and moved:
        session.execute(insert(Reassignment), [
            {"street_code": street_code, "generation_id": generation.id, "subject": "building",
             "subject_code": code, "from_grid": from_grid, "to_grid": to_grid}
            for code, from_grid, to_grid in moved])
    return len(moved)


ASSIGN_SQL = """
    WITH placed AS (
        SELECT b.id, b.grid_id AS old_grid_id,
               (SELECT g.id FROM grid g JOIN generation n ON n.id = g.generation_id
                WHERE n.street_code = :street AND n.active AND g.geom && b.footprint
                AND ST_Intersects(g.geom, b.footprint)
                ORDER BY CASE WHEN ST_CoveredBy(b.footprint, g.geom) THEN 1.0
                         ELSE ST_Area(ST_Intersection(g.geom, b.footprint)) END DESC,
                         g.code COLLATE "C"
                LIMIT 1) AS grid_id,
               (SELECT e.id FROM estate e WHERE e.street_code = :street
                AND e.geom && b.footprint AND ST_Intersects(e.geom, b.footprint)
                AND ST_Area(ST_Intersection(e.geom, b.footprint)) > 0.5 * ST_Area(b.footprint)
                ORDER BY e.code LIMIT 1) AS estate_id
        FROM building b WHERE b.street_code = :street
    ), updated AS (
        UPDATE building b SET grid_id = p.grid_id, estate_id = p.estate_id FROM placed p
        WHERE b.id = p.id AND (b.grid_id IS DISTINCT FROM p.grid_id
                               OR b.estate_id IS DISTINCT FROM p.estate_id)
        RETURNING b.code, p.old_grid_id, p.grid_id
    )
    SELECT u.code, old.code AS from_grid, new.code AS to_grid FROM updated u
    LEFT JOIN grid old ON old.id = u.old_grid_id LEFT JOIN grid new ON new.id = u.grid_id
    WHERE old.code IS DISTINCT FROM new.code"""


def bump_version(session: Session, street_code: str) -> None:
    """Tell in-memory indexes that the street's boundaries or buildings changed."""
    session.execute(text("""
        INSERT INTO registry_version (street_code) VALUES (:street)
        ON CONFLICT (street_code) DO UPDATE
        SET version = registry_version.version + 1, changed_at = now()"""),
                    {"street": street_code})


def _insert(session: Session, sql: str, **params: object) -> int:
    return session.execute(text(sql), params).rowcount  # type: ignore[attr-defined]


def _require_parents(session: Session, staged: str, column: str, parents_sql: str,
                     **params: object) -> None:
    missing = session.scalars(text(f"""
        SELECT DISTINCT "{column}" FROM "{staged}"
        WHERE "{column}" IS NULL OR "{column}" NOT IN ({parents_sql}) ORDER BY 1"""),
                              params).all()
    if missing:
        raise NotFound(f"unknown {column}: {', '.join(map(str, missing[:10]))}", field=column,
                       fix="load the parent layer first, or correct the codes")
