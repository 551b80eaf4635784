"""One import, end to end: read, map fields, validate against the registry, and (only with
``commit`` and no errors) load, all inside the caller's transaction.

Communities go into a new boundary generation. Grids go into the generation named, else the
newest inactive one that has communities but no grids yet, else a new one that copies the
active generation's communities (grids redrawn inside unchanged communities). Buildings are
inserted, or updated where their code exists. A generation is used once activated
(``registry.activate_generation``), a separate step.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import shapely
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from geo import registry
from geo.errors import InvalidInput, NotFound
from geo.ingest.fields import FieldMap, Kind, normalise
from geo.ingest.read import read_layer
from geo.ingest.report import Report
from geo.ingest.validate import validate
from geo.models import Generation, Street

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ImportRequest:
    """What to import and how: the CLI's and the HTTP endpoint's options."""

    kind: Kind
    path: Path
    street_code: str
    layer: str | None = None
    crs: str | None = None
    encoding: str | None = None
    fields: FieldMap = field(default_factory=FieldMap)
    generation: int | None = None
    commit: bool = False


@dataclass(frozen=True)
class ImportResult:
    """The validation report, and what a commit changed."""

    report: Report
    committed: bool = False
    generation: int | None = None
    inserted: int = 0
    updated: int = 0

    def to_json(self) -> dict[str, object]:
        return {"committed": self.committed, "generation": self.generation,
                "inserted": self.inserted, "updated": self.updated,
                "report": self.report.to_json()}


def run_import(session: Session, request: ImportRequest) -> ImportResult:
    """Validate ``request.path`` against the registry; load it when asked and clean."""
    _street(session, request)
    return import_frame(session, request, read_layer(
        request.path, layer=request.layer, crs=request.crs, encoding=request.encoding))


def import_frame(session: Session, request: ImportRequest,
                 layer: gpd.GeoDataFrame) -> ImportResult:
    """Validate ``layer`` (a file's attributes and geometry in EPSG:4326, as
    :func:`geo.ingest.read.read_layer` returns them) and load it when asked and clean:
    :func:`run_import` without the reading; ``request.path`` names the source."""
    street = _street(session, request)
    frame = normalise(request.kind, layer, request.fields)
    target = _target_generation(session, request) if request.kind == "grids" else None
    report = validate(request.kind, frame, extent=_extent(session, street),
                      parents=_parents(session, request, target))
    if not request.commit or not report.ok:
        return ImportResult(report)
    return _load(session, request, report, target)


def _street(session: Session, request: ImportRequest) -> Street:
    street = session.get(Street, request.street_code)
    if street is None:
        raise NotFound(f"street {request.street_code} is not in the registry", field="street",
                       fix="load the demo (gridmap demo load) or give --street")
    return street


def _load(session: Session, request: ImportRequest, report: Report,
          target: Generation | None) -> ImportResult:
    frame = report.frame
    if request.kind == "buildings":
        upserted = registry.load_buildings(session, request.street_code, frame,
                                           grid_codes=frame.get("grid_code"))
        return ImportResult(report, True, None, upserted.inserted, upserted.updated)
    if request.kind == "communities":
        generation = registry.create_generation(
            session, street_code=request.street_code, label=f"communities from {request.path.name}",
            source=str(request.path.name))
        count = registry.load_communities(session, generation, frame)
    else:
        generation = target or _new_grid_generation(session, request)
        count = registry.load_grids(session, generation, frame)
    logger.info("loaded %d %s into generation %d", count, request.kind, generation.number)
    return ImportResult(report, True, generation.number, count, 0)


def _target_generation(session: Session, request: ImportRequest) -> Generation | None:
    """The generation grids go into; None means a new one made at load time."""
    if request.generation is not None:
        return _named_generation(session, request.street_code, request.generation)
    return session.scalar(select(Generation).where(
        Generation.street_code == request.street_code, ~Generation.active,
        Generation.activated_at.is_(None),
        text("EXISTS (SELECT 1 FROM community c WHERE c.generation_id = generation.id)"),
        text("NOT EXISTS (SELECT 1 FROM grid g WHERE g.generation_id = generation.id)"))
        .order_by(Generation.number.desc()).limit(1))


def _named_generation(session: Session, street_code: str, number: int) -> Generation:
    """The generation ``--generation`` names, if grids may go into it."""
    generation = session.scalar(select(Generation).where(
        Generation.street_code == street_code, Generation.number == number))
    if generation is None:
        raise NotFound(f"street {street_code} has no generation {number}", field="generation",
                       fix="list them with `gridmap generation list`")
    if generation.active:
        raise InvalidInput(f"generation {number} is active; grids go into a new one",
                           field="generation",
                           fix="import communities first, or leave out --generation")
    if session.scalar(text("SELECT EXISTS (SELECT 1 FROM grid WHERE generation_id = :id)"),
                      {"id": generation.id}):
        raise InvalidInput(f"generation {number} already has grids; a generation holds one "
                           "set of grids", field="generation",
                           fix="leave out --generation to load them into a new generation "
                               "(copying the active communities), or import communities "
                               "first and name that generation")
    return generation


def _new_grid_generation(session: Session, request: ImportRequest) -> Generation:
    """A new generation holding a copy of the active generation's communities."""
    active = registry.active_generation(session, request.street_code)
    if active is None:
        raise InvalidInput("the street has no communities yet", field="kind",
                           fix="import communities first")
    generation = registry.create_generation(
        session, street_code=request.street_code, label=f"grids from {request.path.name}",
        source=request.path.name)
    registry.copy_communities(session, active, generation)
    return generation


def _parents(session: Session, request: ImportRequest,
             target: Generation | None) -> gpd.GeoDataFrame | None:
    """Communities for grids (of the target generation, else the active one); active grids
    for buildings; nothing for communities."""
    if request.kind == "communities":
        return None
    if request.kind == "grids":
        generation = target or registry.active_generation(session, request.street_code)
        sql = "SELECT code, ST_AsBinary(geom) FROM community WHERE generation_id = :id"
        params: dict[str, object] = {"id": generation.id if generation else -1}
    else:
        sql = registry.GRIDS_OF_STREET
        params = {"street": request.street_code}
    rows = sorted(session.execute(text(sql), params).all(), key=lambda row: row[0])
    return gpd.GeoDataFrame({"code": [code for code, _ in rows]},
                            geometry=shapely.from_wkb([bytes(wkb) for _, wkb in rows]),
                            crs=4326)


def _extent(session: Session, street: Street) -> shapely.Geometry | None:
    wkb = session.scalar(text("SELECT ST_AsBinary(geom) FROM street WHERE street_code = :s"),
                         {"s": street.street_code})
    return shapely.from_wkb(bytes(wkb)) if wkb else None
