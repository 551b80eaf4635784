"""The registry as GeoJSON: streets, communities, grids, estates and buildings."""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import AfterValidator
from pydantic_core import PydanticCustomError

from api.deps import BBoxDep, PagingDep, SessionDep
from geo.features import LAYERS, get_feature, list_features
from geo.features import Query as FeatureQuery

GEOJSON = "application/geo+json"

router = APIRouter(prefix="/api", tags=["areas"])

Street = Annotated[str | None, Query(description="9-digit street code", pattern=r"^\d{9}$")]
Community = Annotated[str | None, Query(description="12-digit community code",
                                        pattern=r"^\d{12}$")]


def no_nul(code: str | None) -> str | None:
    """Refuse a code holding a NUL byte, which PostgreSQL text cannot store or compare."""
    if code is not None and "\x00" in code:
        raise PydanticCustomError("nul_byte", "a code cannot contain a NUL byte (%00): send "
                                              "the code as printed")
    return code


GridCode = Annotated[str | None, Query(description="grid code"), AfterValidator(no_nul)]
EstateCode = Annotated[str | None, Query(description="estate code"), AfterValidator(no_nul)]
Generation = Annotated[int | None, Query(ge=1, description="boundary generation number; "
                                                           "default: the active one")]

FEATURE_COLLECTION: dict[int | str, dict[str, Any]] = {200: {
    "description": "A GeoJSON FeatureCollection (RFC 7946) with OGC API paging links.",
    "content": {GEOJSON: {"schema": {"type": "object", "required": ["type", "features"],
                                     "properties": {
                                         "type": {"const": "FeatureCollection"},
                                         "features": {"type": "array",
                                                      "items": {"type": "object"}},
                                         "numberReturned": {"type": "integer"},
                                         "links": {"type": "array",
                                                   "items": {"type": "object"}}}}}}}}
FEATURE: dict[int | str, dict[str, Any]] = {200: {
    "description": "A GeoJSON Feature (RFC 7946).",
    "content": {GEOJSON: {"schema": {"type": "object"}}}}}


class LayerName(StrEnum):
    streets = "streets"
    communities = "communities"
    grids = "grids"
    estates = "estates"
    buildings = "buildings"


@router.get("/streets", responses=FEATURE_COLLECTION, response_class=Response)
def list_streets(session: SessionDep, request: Request, paging: PagingDep, bbox: BBoxDep,
                 street: Street = None) -> Response:
    return _collection(session, request, LayerName.streets, paging, bbox, street=street)


@router.get("/communities", responses=FEATURE_COLLECTION, response_class=Response)
def list_communities(session: SessionDep, request: Request, paging: PagingDep, bbox: BBoxDep,
                     street: Street = None, generation: Generation = None) -> Response:
    return _collection(session, request, LayerName.communities, paging, bbox, generation,
                       street=street)


@router.get("/grids", responses=FEATURE_COLLECTION, response_class=Response)
def list_grids(session: SessionDep, request: Request, paging: PagingDep, bbox: BBoxDep,
               street: Street = None, community: Community = None,
               generation: Generation = None) -> Response:
    return _collection(session, request, LayerName.grids, paging, bbox, generation,
                       street=street, community=community)


@router.get("/estates", responses=FEATURE_COLLECTION, response_class=Response)
def list_estates(session: SessionDep, request: Request, paging: PagingDep, bbox: BBoxDep,
                 street: Street = None, community: Community = None) -> Response:
    return _collection(session, request, LayerName.estates, paging, bbox, street=street,
                       community=community)


@router.get("/buildings", responses=FEATURE_COLLECTION, response_class=Response)
def list_buildings(session: SessionDep, request: Request, paging: PagingDep, bbox: BBoxDep,
                   street: Street = None, community: Community = None, grid: GridCode = None,
                   estate: EstateCode = None) -> Response:
    return _collection(session, request, LayerName.buildings, paging, bbox, street=street,
                       community=community, grid=grid, estate=estate)


@router.get("/{layer}/{code}", responses=FEATURE, response_class=Response)
def get_one(session: SessionDep, layer: LayerName,
            code: Annotated[str, Path(max_length=64), AfterValidator(no_nul)],
            generation: Generation = None) -> Response:
    """One feature by its code (communities and grids: in the active generation unless
    ``generation`` is given)."""
    feature = get_feature(session, LAYERS[layer], code, generation=generation)
    return Response(feature, media_type=GEOJSON)


def _collection(session: SessionDep, request: Request, layer: LayerName, paging: PagingDep,
                bbox: BBoxDep, generation: int | None = None, **parents: str | None) -> Response:
    query = FeatureQuery(filters={k: v for k, v in parents.items() if v is not None}, bbox=bbox,
                         generation=generation, limit=paging.limit, offset=paging.offset)
    page = list_features(session, LAYERS[layer], query)
    links = [{"rel": "self", "type": GEOJSON, "href": str(request.url)}]
    if page.has_more:
        next_url = request.url.include_query_params(offset=paging.offset + paging.limit,
                                                    limit=paging.limit)
        links.append({"rel": "next", "type": GEOJSON, "href": str(next_url)})
    head = (f'{{"type":"FeatureCollection","numberReturned":{len(page.features)},'
            f'"links":{_json(links)},"features":[')
    return Response(head + ",".join(page.features) + "]}", media_type=GEOJSON)


def _json(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
