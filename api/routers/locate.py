"""Point lookups: ``/api/locate``, its batch form, and MapIt-compatible ``/point/...``."""

from __future__ import annotations

import csv
import io
import json
from typing import Annotated, Any

import numpy as np
from fastapi import APIRouter, Depends, Path, Query, Request, Response
from pydantic import BaseModel

from api.deps import SessionDep, SettingsDep
from geo.crs import parse_crs
from geo.errors import InvalidInput
from geo.locate import Location, locate_many, to_lonlat

router = APIRouter(tags=["locate"])

BATCH_LIMIT = 10_000
CRS = Annotated[str, Query(description="CRS of lon/lat: wgs84, cgcs2000, gcj02 (AMap, Tencent, "
                                       "WeChat), bd09 (Baidu), or EPSG:NNNN")]


class AreaOut(BaseModel):
    code: str
    name: str


class GridOut(AreaOut):
    officer_name: str | None = None


class BuildingOut(AreaOut):
    address: str | None = None
    distance_m: float


class LocationOut(BaseModel):
    """Where a point lies. ``covered`` is false when no grid is within reach."""

    lon: float
    lat: float
    covered: bool
    street: AreaOut | None = None
    community: AreaOut | None = None
    grid: GridOut | None = None
    building: BuildingOut | None = None
    generation: int | None = None
    on_boundary: bool = False
    outside_coverage: bool = False
    distance_m: float | None = None

    @classmethod
    def of(cls, location: Location) -> LocationOut:
        grid = location.grid
        building = location.building
        return cls(
            lon=location.lon, lat=location.lat, covered=location.covered,
            street=_area(location.street), community=_area(location.community),
            grid=GridOut(code=grid.code, name=grid.name, officer_name=location.officer)
            if grid else None,
            building=BuildingOut(code=building.code, name=building.name,
                                 address=building.address, distance_m=building.distance_m)
            if building else None,
            generation=location.generation, on_boundary=location.on_boundary,
            outside_coverage=location.outside_coverage, distance_m=location.distance_m)


def _area(area: Any) -> AreaOut | None:
    return AreaOut(code=area.code, name=area.name) if area else None


@router.get("/api/locate", response_model=LocationOut)
def locate_point(session: SessionDep, settings: SettingsDep,
                 lon: Annotated[float, Query(description="longitude (or easting)")],
                 lat: Annotated[float, Query(description="latitude (or northing)")],
                 crs: CRS = "wgs84") -> LocationOut:
    """The street, community, grid (and its officer) and building at a point."""
    lons, lats = to_lonlat(lon, lat, crs)
    return LocationOut.of(locate_many(session, lons, lats, settings)[0])


async def request_body(request: Request) -> bytes:
    """The raw body, read in the event loop so the handler itself can stay synchronous."""
    return await request.body()


BATCH_BODY = {"requestBody": {"required": True, "content": {
    "application/json": {"schema": {"type": "array", "maxItems": BATCH_LIMIT, "items": {
        "oneOf": [{"type": "array", "items": {"type": "number"}, "minItems": 2, "maxItems": 2},
                  {"type": "object", "required": ["lon", "lat"],
                   "properties": {"lon": {"type": "number"}, "lat": {"type": "number"},
                                  "id": {"type": "string"}}}]}}},
    "text/csv": {"schema": {"type": "string", "description": "header with lon,lat[,id]"}}}}}


@router.post("/api/locate/batch", openapi_extra=BATCH_BODY,
             responses={200: {"content": {"application/json": {}, "text/csv": {}}}})
def locate_batch(request: Request, raw: Annotated[bytes, Depends(request_body)],
                 session: SessionDep, settings: SettingsDep, crs: CRS = "wgs84") -> Response:
    """Up to 10,000 points (a JSON array of [lon, lat] or {lon, lat, id}, or CSV with a
    lon,lat[,id] header); one answer per point, in order, in the same format."""
    is_csv = request.headers.get("content-type", "").startswith("text/csv")
    body = raw.decode("utf-8-sig", errors="replace")
    ids, xs, ys = _parse_csv(body) if is_csv else _parse_json(body)
    if len(xs) > BATCH_LIMIT:
        raise InvalidInput(f"{len(xs)} points is over the batch limit of {BATCH_LIMIT}",
                           field="body", fix=f"split the points into batches of {BATCH_LIMIT}")
    lons, lats = to_lonlat(xs, ys, crs) if xs else (np.array([]), np.array([]))
    answers = [LocationOut.of(found) for found in locate_many(session, lons, lats, settings)]
    if is_csv:
        return Response(_to_csv(ids, answers), media_type="text/csv; charset=utf-8")
    rows = [{"id": id_, **answer.model_dump()} for id_, answer in zip(ids, answers, strict=True)]
    return Response(json.dumps(rows, ensure_ascii=False), media_type="application/json")


@router.get("/point/{srid}/{coordinates}", tags=["mapit"])
def mapit_point(session: SessionDep, settings: SettingsDep,
                srid: Annotated[int, Path(description="EPSG code of the coordinates")],
                coordinates: Annotated[str, Path(description="x,y, e.g. 120.27,30.18")]
                ) -> dict[str, dict[str, Any]]:
    """MapIt-compatible lookup: the areas covering the point, keyed by id."""
    x, y = _pair(coordinates)
    lons, lats = to_lonlat(x, y, parse_crs(srid).name)
    found = locate_many(session, lons, lats, settings)[0]
    if not found.covered or found.outside_coverage:
        return {}
    return mapit_areas(found)


def mapit_areas(found: Location) -> dict[str, dict[str, Any]]:
    """MapIt's area dictionary for a covered location: street, community, grid."""
    assert found.street and found.community and found.grid
    chain = [(found.street, "STR", "街道", None), (found.community, "COM", "村社",
                                                 found.street.code),
             (found.grid, "GRD", "网格", found.community.code)]
    generation = found.generation
    return {area.code: {"id": area.code, "name": area.name, "type": kind, "type_name": label,
                        "country": "CN", "country_name": "中国", "parent_area": parent,
                        "codes": {"gb": area.code}, "generation_low": generation,
                        "generation_high": generation, "all_names": {}}
            for area, kind, label, parent in chain}


def _pair(coordinates: str) -> tuple[float, float]:
    parts = coordinates.removesuffix(".json").split(",")
    try:
        x, y = (float(part) for part in parts)
    except ValueError as error:
        raise InvalidInput(f"{coordinates!r} is not x,y", field="coordinates",
                           fix="use /point/4326/120.27,30.18") from error
    return x, y


def _parse_json(body: str) -> tuple[list[str | None], list[float], list[float]]:
    try:
        points = json.loads(body)
    except json.JSONDecodeError as error:
        raise InvalidInput(f"the body is not JSON: {error.msg} at {error.pos}", field="body",
                           fix="send a JSON array of [lon, lat] pairs") from error
    if not isinstance(points, list):
        raise InvalidInput("the body must be a JSON array of points", field="body",
                           fix="send [[120.27, 30.18], ...] or [{\"lon\": ..., \"lat\": ...}]")
    ids: list[str | None] = []
    xs: list[float] = []
    ys: list[float] = []
    for row, point in enumerate(points):
        id_, x, y = _point(row, point)
        ids.append(id_)
        xs.append(x)
        ys.append(y)
    return ids, xs, ys


def _point(row: int, point: object) -> tuple[str | None, float, float]:
    try:
        if isinstance(point, dict):
            id_ = point.get("id")
            return (None if id_ is None else str(id_)), _number(point["lon"]), _number(
                point["lat"])
        if isinstance(point, list) and len(point) == 2:
            return None, _number(point[0]), _number(point[1])
    except (KeyError, TypeError, ValueError):
        pass
    raise InvalidInput(f"point {row} is not [lon, lat] or {{lon, lat}}: {point!r}"[:200],
                       field=f"body[{row}]", fix="give two numbers, longitude first")


def _number(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(value)
    return float(value)


def _parse_csv(body: str) -> tuple[list[str | None], list[float], list[float]]:
    reader = csv.DictReader(io.StringIO(body))
    fields = [name.strip().lower() for name in reader.fieldnames or []]
    if "lon" not in fields or "lat" not in fields:
        raise InvalidInput(f"the CSV header {reader.fieldnames} lacks lon and lat", field="body",
                           fix="start the CSV with a header line: id,lon,lat")
    ids: list[str | None] = []
    xs: list[float] = []
    ys: list[float] = []
    for row, record in enumerate(reader, start=1):
        values = {key.strip().lower(): (value or "").strip() for key, value in record.items()
                  if key}
        try:
            xs.append(float(values["lon"]))
            ys.append(float(values["lat"]))
        except ValueError as error:
            raise InvalidInput(f"CSV row {row}: lon/lat not numbers: {values}"[:200],
                               field=f"row {row}", fix="give decimal degrees") from error
        ids.append(values.get("id"))
    return ids, xs, ys


CSV_COLUMNS = ["id", "lon", "lat", "covered", "street_code", "community_code", "community_name",
               "grid_code", "grid_name", "building_code", "on_boundary", "outside_coverage",
               "distance_m", "generation"]


def _to_csv(ids: list[str | None], answers: list[LocationOut]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for id_, a in zip(ids, answers, strict=True):
        writer.writerow([id_, a.lon, a.lat, a.covered, a.street and a.street.code,
                         a.community and a.community.code, a.community and a.community.name,
                         a.grid and a.grid.code, a.grid and a.grid.name,
                         a.building and a.building.code, a.on_boundary, a.outside_coverage,
                         a.distance_m, a.generation])
    return out.getvalue()
