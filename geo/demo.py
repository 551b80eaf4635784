"""Load the synthetic Beigan demo (real names and codes, generated geometry) into the registry."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from data.beigan import STREET_CODE, BeiganDemo, generate
from geo import registry
from geo.models import Generation

logger = logging.getLogger(__name__)

DEMO_SEED = 2020
SOURCE = f"gridmap demo: synthetic Beigan, seed {DEMO_SEED}"


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
    generation = registry.create_generation(session, street_code=STREET_CODE,
                                            label="demo boundaries", source=SOURCE)
    communities = registry.load_communities(session, generation, demo.communities)
    grids = registry.load_grids(session, generation, demo.grids)
    registry.activate_generation(session, generation)
    estates = registry.load_estates(session, STREET_CODE, demo.estates)
    buildings = registry.load_buildings(session, STREET_CODE, demo.buildings).inserted
    return DemoLoad(True, communities, grids, estates, buildings)
