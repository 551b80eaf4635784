"""Read the registry as GeoJSON features: one query per page, built by PostgreSQL.

Each layer is a SELECT whose columns become the feature's properties (``geom`` becomes its
geometry, ``code`` its id). Communities and grids come from the street's active generation
unless a generation number is asked for.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.errors import InvalidInput, NotFound

GEOJSON_DECIMALS = 7  # about 1 cm at Hangzhou's latitude


@dataclass(frozen=True)
class BBox:
    """A WGS84 bounding box: min lon, min lat, max lon, max lat."""

    min_lon: float
    min_lat: float
    max_lon: float
    max_lat: float

    @classmethod
    def parse(cls, value: str) -> BBox:
        """Parse ``"minLon,minLat,maxLon,maxLat"``, saying exactly what is wrong if it is not."""
        parts = value.split(",")
        if len(parts) != 4:
            raise _bbox_error(f"bbox needs 4 numbers, got {len(parts)}")
        try:
            box = cls(*(float(part) for part in parts))
        except ValueError as error:
            raise _bbox_error(f"bbox has a value that is not a number: {value!r}") from error
        problem = box._problem()
        if problem:
            raise _bbox_error(problem)
        return box

    def _problem(self) -> str | None:
        if not all(math.isfinite(number) for number in vars(self).values()):
            return "bbox values must be finite numbers"
        for lon in (self.min_lon, self.max_lon):
            if not -180 <= lon <= 180:
                return f"bbox longitude {lon} is outside -180..180"
        for lat in (self.min_lat, self.max_lat):
            if not -90 <= lat <= 90:
                return f"bbox latitude {lat} is outside -90..90"
        if self.min_lon > self.max_lon:
            return f"bbox min longitude {self.min_lon} > max longitude {self.max_lon}"
        if self.min_lat > self.max_lat:
            return f"bbox min latitude {self.min_lat} > max latitude {self.max_lat}"
        return None


def _bbox_error(detail: str) -> InvalidInput:
    return InvalidInput(detail, field="bbox", fix="give bbox=minLon,minLat,maxLon,maxLat in "
                        "WGS84 degrees, e.g. 120.25,30.16,120.29,30.20")


@dataclass(frozen=True)
class Layer:
    """A registry layer served as GeoJSON: its SELECT (columns become properties), the
    expressions of its code and geometry, and the parent codes it filters by."""

    name: str
    select: str
    code: str
    geom: str
    filters: Mapping[str, str] = field(default_factory=dict)
    generational: bool = False


LAYERS: dict[str, Layer] = {layer.name: layer for layer in [
    Layer("streets", """
        SELECT s.street_code AS code, s.name, s.district_code, s.street_code, s.geom
        FROM street s""", "s.street_code", "s.geom", {"street": "s.street_code"}),
    Layer("communities", """
        SELECT c.code, c.name, c.kind, c.street_code, n.number AS generation, c.geom
        FROM community c JOIN generation n ON n.id = c.generation_id""",
          "c.code", "c.geom", {"street": "c.street_code"}, generational=True),
    Layer("grids", """
        SELECT g.code, g.name, c.code AS community_code, g.street_code,
               o.name AS officer_name, n.number AS generation, g.geom
        FROM grid g JOIN community c ON c.id = g.community_id
        JOIN generation n ON n.id = g.generation_id
        LEFT JOIN officer o ON o.id = g.officer_id""",
          "g.code", "g.geom", {"street": "g.street_code", "community": "c.code"},
          generational=True),
    Layer("estates", """
        SELECT e.code, e.name, e.community_code, e.street_code, e.property_company,
               e.property_contact, e.owners_committee, e.geom
        FROM estate e""", "e.code", "e.geom",
          {"street": "e.street_code", "community": "e.community_code"}),
    Layer("buildings", """
        SELECT b.code, b.name, b.address, b.use, b.height_m, b.floors,
               g.code AS grid_code, c.code AS community_code, e.code AS estate_code,
               b.street_code, b.footprint AS geom
        FROM building b LEFT JOIN grid g ON g.id = b.grid_id
        LEFT JOIN community c ON c.id = g.community_id
        LEFT JOIN estate e ON e.id = b.estate_id""", "b.code", "b.footprint",
          {"street": "b.street_code", "community": "c.code", "grid": "g.code",
           "estate": "e.code"}),
]}


@dataclass(frozen=True)
class Query:
    """What a caller asked of a layer: parent filters, a bbox, a generation, a page."""

    filters: Mapping[str, str] = field(default_factory=dict)
    bbox: BBox | None = None
    generation: int | None = None
    limit: int = 100
    offset: int = 0


@dataclass(frozen=True)
class Page:
    """Features as GeoJSON text, and whether more follow."""

    features: list[str]
    has_more: bool


def list_features(session: Session, layer: Layer, query: Query) -> Page:
    """One page of ``layer``'s features matching ``query``, ordered by code."""
    where, params = _where(layer, query)
    page = f"ORDER BY {layer.code} LIMIT :limit OFFSET :offset"
    rows = session.scalars(text(_feature_sql(layer, where, page)),
                           {**params, "limit": query.limit + 1, "offset": query.offset}).all()
    return Page(features=list(rows[:query.limit]), has_more=len(rows) > query.limit)


def get_feature(session: Session, layer: Layer, code: str, *, generation: int | None = None) -> str:
    """The feature of ``layer`` with this code (in the active or given generation)."""
    where, params = _where(layer, Query(generation=generation))
    feature = session.scalar(text(_feature_sql(layer, [*where, f"{layer.code} = :code"])),
                             {**params, "code": code})
    if feature is None:
        raise NotFound(f"no {layer.name.removesuffix('s')} with code {code!r}", field="code",
                       fix=f"list the codes at /api/{layer.name}")
    return str(feature)


def _where(layer: Layer, query: Query) -> tuple[list[str], dict[str, object]]:
    where: list[str] = []
    params: dict[str, object] = {}
    for name, value in query.filters.items():
        where.append(f"{layer.filters[name]} = :{name}")
        params[name] = value
    if layer.generational:
        if query.generation is None:
            where.append("n.active")
        else:
            where.append("n.number = :generation")
            params["generation"] = query.generation
    if query.bbox is not None:
        envelope = "ST_MakeEnvelope(:min_lon, :min_lat, :max_lon, :max_lat, 4326)"
        where.append(f"ST_Intersects({layer.geom}, {envelope})")
        params.update(vars(query.bbox))
    return where, params


def _feature_sql(layer: Layer, where: list[str], tail: str = "") -> str:
    """The layer's SELECT, filtered, with each row rendered by PostgreSQL as a Feature."""
    condition = " AND ".join(where) or "true"
    return f"""
        SELECT json_build_object('type', 'Feature', 'id', f.code,
               'geometry', ST_AsGeoJSON(f.geom, {GEOJSON_DECIMALS})::json,
               'properties', to_jsonb(f) - 'geom')::text
        FROM ({layer.select} WHERE {condition} {tail}) f ORDER BY f.code"""
