"""Liveness and readiness: the database answers and has PostGIS."""

from __future__ import annotations

from fastapi import APIRouter, Request
from pydantic import BaseModel

from geo.db import postgis_version

router = APIRouter(tags=["health"])


class Health(BaseModel):
    status: str
    postgresql: str
    postgis: str


@router.get("/health", response_model=Health)
def health(request: Request) -> Health:
    """200 with versions when the database and PostGIS answer; a 503 problem otherwise."""
    server, postgis = postgis_version(request.app.state.engine)
    return Health(status="ok", postgresql=server, postgis=postgis)
