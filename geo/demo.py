"""Load the synthetic Beigan demo (real names and codes, generated geometry) into the registry."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
from sqlalchemy import select
from sqlalchemy.orm import Session

from data.beigan import STREET_CODE, BeiganDemo, generate
from geo import registry
from geo.ingest.commit import ImportRequest, import_frame
from geo.ingest.fields import Kind
from geo.models import Generation

logger = logging.getLogger(__name__)

DEMO_SEED = 2020
SOURCE = f"beigan-demo-seed-{DEMO_SEED}"  # the source the importer records


@dataclass(frozen=True)
class DemoLoad:
    """What ``load_demo`` did: whether it loaded anything and the row counts."""

    loaded: bool
    communities: int = 0
    grids: int = 0
    estates: int = 0
    buildings: int = 0


def load_demo(session: Session, demo: BeiganDemo | None = None) -> DemoLoad:
    """Load Beigan as generation 1, active, unless the street already has boundaries
    (idempotent: a second run changes nothing)."""
    if session.scalar(select(Generation.id).where(Generation.street_code == STREET_CODE)):
        logger.info("street %s already has boundaries; demo not loaded again", STREET_CODE)
        return DemoLoad(loaded=False)
    demo = demo or generate(DEMO_SEED)
    street = demo.street.iloc[0]
    registry.upsert_street(session, street_code=street["code"], name=street["name"],
                           district_code=street["district_code"], frame=demo.street)
    communities = _import(session, "communities", demo.communities)
    grids = _import(session, "grids", demo.grids)
    generation = session.scalars(select(Generation).where(
        Generation.street_code == STREET_CODE)).one()
    registry.activate_generation(session, generation)
    estates = registry.load_estates(session, STREET_CODE, demo.estates)
    buildings = _import(session, "buildings", demo.buildings)
    return DemoLoad(True, communities, grids, estates, buildings)


def _import(session: Session, kind: Kind, layer: gpd.GeoDataFrame) -> int:
    """One demo layer through the importer, validated as a survey file would be; the
    generated data must come out clean."""
    result = import_frame(session, ImportRequest(kind, Path(SOURCE), STREET_CODE, commit=True),
                          layer)
    if not result.committed:
        raise RuntimeError(f"the generated {kind} fail validation:\n{result.report.to_table()}")
    return result.inserted
