"""Dependencies: settings, the database session, and typed query-parameter groups."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from sqlalchemy.orm import Session

from geo.errors import InvalidInput
from geo.features import BBox
from geo.locator import Locator, LocatorCache
from geo.settings import Settings


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_session(request: Request) -> Iterator[Session]:
    """A session per request: committed when the handler returns, rolled back on error."""
    with request.app.state.sessions() as session, session.begin():
        yield session


SettingsDep = Annotated[Settings, Depends(get_settings)]
SessionDep = Annotated[Session, Depends(get_session)]


MAX_OFFSET = 2**31 - 1  # far past any layer; PostgreSQL's OFFSET refuses over 2**63 - 1


@dataclass(frozen=True)
class Paging:
    limit: int
    offset: int


def get_paging(
    settings: SettingsDep,
    limit: Annotated[int | None, Query(ge=1, description="Features per page.")] = None,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET, description="Features to skip.")] = 0,
) -> Paging:
    """``limit`` (default and maximum from settings; over the maximum is refused) and
    ``offset`` (at most ``MAX_OFFSET``)."""
    if limit is not None and limit > settings.max_page_size:
        raise InvalidInput(f"limit {limit} is over the maximum of {settings.max_page_size}",
                           field="limit",
                           fix=f"use limit <= {settings.max_page_size} and follow the next links")
    return Paging(limit=limit or settings.default_page_size, offset=offset)


def get_bbox(
    bbox: Annotated[str | None, Query(
        description="minLon,minLat,maxLon,maxLat in WGS84",
        examples=["120.25,30.16,120.29,30.20"])] = None,
) -> BBox | None:
    return BBox.parse(bbox) if bbox is not None else None


async def get_locator(request: Request) -> Locator:
    """The process's in-memory locator, checked against the registry's version at most once
    per ``locator_refresh_s`` (one request does the check, in a worker thread)."""
    cache: LocatorCache = request.app.state.locators
    current = cache.current()
    if current is None or cache.claim_check():
        return await run_in_threadpool(cache.refresh, request.app.state.sessions)
    return current


PagingDep = Annotated[Paging, Depends(get_paging)]
LocatorDep = Annotated[Locator, Depends(get_locator)]
BBoxDep = Annotated[BBox | None, Depends(get_bbox)]
