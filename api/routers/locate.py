"""Point lookups: ``/api/locate``, its batch form, and MapIt-compatible ``/point/...``."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping
from typing import Annotated, Any

import numpy as np
import orjson
from fastapi import APIRouter, Depends, FastAPI, Path, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.routing import Route

from api.deps import LocatorDep, get_locator
from geo.crs import parse_crs
from geo.errors import InvalidInput
from geo.locate import Area, Location, fix_for, point_to_lonlat, rows_to_lonlat, to_lonlat

router = APIRouter()

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



def location_body(location: Location) -> dict[str, Any]:
    """A location as ``LocationOut``'s JSON, built directly: this is the hot path."""
    grid, building = location.grid, location.building
    return {
        "lon": location.lon, "lat": location.lat, "covered": grid is not None,
        "street": _area(location.street), "community": _area(location.community),
        "grid": {"code": grid.code, "name": grid.name, "officer_name": location.officer}
        if grid else None,
        "building": {"code": building.code, "name": building.name,
                     "address": building.address, "distance_m": building.distance_m}
        if building else None,
        "generation": location.generation, "on_boundary": location.on_boundary,
        "outside_coverage": location.outside_coverage, "distance_m": location.distance_m}


def _area(area: Area | None) -> dict[str, str] | None:
    return {"code": area.code, "name": area.name} if area else None


LOCATE_PARAMETERS = [
    {"name": "lon", "in": "query", "required": True, "schema": {"type": "number"},
     "description": "longitude (or easting)"},
    {"name": "lat", "in": "query", "required": True, "schema": {"type": "number"},
     "description": "latitude (or northing)"},
    {"name": "crs", "in": "query", "required": False,
     "schema": {"type": "string", "default": "wgs84"},
     "description": "wgs84, cgcs2000, gcj02 (AMap, Tencent, WeChat), bd09 (Baidu), EPSG:NNNN"},
]


@router.get("/api/locate", response_class=JSONResponse, tags=["locate"],
            openapi_extra={"parameters": LOCATE_PARAMETERS},
            responses={200: {"model": LocationOut, "description": "Where the point lies."}})
async def locate_point(request: Request) -> Response:
    """The street, community, grid (and its officer) and building at a point.

    The hottest endpoint: it reads its parameters by hand and is served by a plain Starlette
    route (``serve_fast``) ahead of this documented one, because FastAPI's request handling
    cost more than the lookup itself (see bench/locate_http.py).
    """
    query = request.query_params
    lon, lat = _query_number(query, "lon"), _query_number(query, "lat")
    wgs_lon, wgs_lat = point_to_lonlat(lon, lat, query.get("crs", "wgs84"))
    locator = await get_locator(request)
    body = orjson.dumps(location_body(locator.locate_point(wgs_lon, wgs_lat)))
    return Response(body, media_type="application/json")  # orjson: a tenth of the CPU


def serve_fast(app: FastAPI) -> None:
    """Serve ``GET /api/locate`` through a plain route matched before the documented one."""
    app.router.routes.insert(0, Route("/api/locate", locate_point, methods=["GET"],
                                      include_in_schema=False))


def _query_number(query: Mapping[str, str], name: str) -> float:
    fix = "send decimal degrees, e.g. lon=120.27&lat=30.18"
    if name not in query:
        raise InvalidInput(f"{name} is required", field=name, fix=fix)
    try:
        return float(query[name])
    except ValueError as error:
        raise InvalidInput(f"{name} must be a number, not {query[name]!r}"[:200], field=name,
                           fix=fix) from error


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


@router.post("/api/locate/batch", openapi_extra=BATCH_BODY, tags=["locate"],
             responses={200: {"content": {"application/json": {}, "text/csv": {}}}})
def locate_batch(request: Request, raw: Annotated[bytes, Depends(request_body)],
                 locator: LocatorDep, crs: CRS = "wgs84") -> Response:
    """Up to 10,000 points (a JSON array of [lon, lat] or {lon, lat, id}, or CSV with a
    lon,lat[,id] header); one answer per point, in order, in the same format."""
    is_csv = request.headers.get("content-type", "").startswith("text/csv")
    body = raw.decode("utf-8-sig", errors="replace")
    ids, xs, ys = _parse_csv(body) if is_csv else _parse_json(body)
    if len(xs) > BATCH_LIMIT:
        raise InvalidInput(f"{len(xs)} points is over the batch limit of {BATCH_LIMIT}",
                           field="body", fix=f"split the points into batches of {BATCH_LIMIT}")
    lons, lats = _batch_to_lonlat(xs, ys, crs, is_csv=is_csv)
    answers = [location_body(found) for found in locator.locate(lons, lats)]
    if is_csv:
        return Response(_to_csv(ids, answers), media_type="text/csv; charset=utf-8")
    rows = [{"id": id_, **answer} for id_, answer in zip(ids, answers, strict=True)]
    return Response(json.dumps(rows, ensure_ascii=False), media_type="application/json")


@router.get("/point/{srid}/{coordinates}", tags=["mapit"])
async def mapit_point(locator: LocatorDep,
                      srid: Annotated[int, Path(description="EPSG code of the coordinates")],
                      coordinates: Annotated[str, Path(description="x,y, e.g. 120.27,30.18")]
                      ) -> dict[str, dict[str, Any]]:
    """MapIt-compatible lookup: the areas covering the point, keyed by id."""
    x, y = _pair(coordinates)
    lons, lats = to_lonlat(x, y, parse_crs(srid).name)
    found = locator.locate(lons, lats)[0]
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


def _batch_to_lonlat(xs: list[float], ys: list[float], crs: str, *,
                     is_csv: bool) -> tuple[np.ndarray, np.ndarray]:
    """The batch in WGS84, by the bulk command's per-row rules; the first bad row is a 422
    naming it (``row N`` counting CSV data rows from 1, ``body[N]`` indexing the JSON array)."""
    x, y = np.asarray(xs, dtype=np.float64), np.asarray(ys, dtype=np.float64)
    lons, lats, errors = rows_to_lonlat(x, y, crs)
    bad = np.flatnonzero(errors.astype(bool))
    if bad.size:
        row = int(bad[0])
        field = f"row {row + 1}" if is_csv else f"body[{row}]"
        raise InvalidInput(f"{field}: {errors[row]} (lon={x[row]}, lat={y[row]}; "
                           f"{bad.size} bad row(s) in all)", field=field,
                           fix=fix_for(errors[row]))
    return lons, lats


def _parse_json(body: str) -> tuple[list[str | None], list[float], list[float]]:
    try:
        points = json.loads(body)
    except json.JSONDecodeError as error:
        raise InvalidInput(f"the body is not JSON: {error.msg} at {error.pos}", field="body",
                           fix="send a JSON array of [lon, lat] pairs") from error
    except ValueError as error:  # Python reads no integer literal of over 4,300 digits
        raise InvalidInput("the body holds a number of over 4,300 digits", field="body",
                           fix="send coordinates as plain decimal numbers") from error
    except RecursionError as error:
        raise InvalidInput("the body is JSON nested too deeply to read", field="body",
                           fix="send a flat JSON array of [lon, lat] pairs") from error
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
    except (KeyError, TypeError, ValueError, OverflowError):  # OverflowError: an int > 1e308
        pass
    raise InvalidInput(f"point {row} is not [lon, lat] or {{lon, lat}}: {point!r}"[:200],
                       field=f"body[{row}]", fix="give two numbers, longitude first")


def _number(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(value)
    return float(value)


def _parse_csv(body: str) -> tuple[list[str | None], list[float], list[float]]:
    reader = csv.DictReader(io.StringIO(body))
    ids: list[str | None] = []
    xs: list[float] = []
    ys: list[float] = []
    try:
        _read_csv(reader, ids, xs, ys)
    except csv.Error as error:  # e.g. a field over the csv module's 128 KB limit
        raise InvalidInput(f"the CSV cannot be read after {len(xs)} point(s): {error}",
                           field="body", fix="send one point per line, id,lon,lat, with "
                                             "quotes balanced and no field over 128 KB") from error
    return ids, xs, ys


def _read_csv(reader: csv.DictReader[str], ids: list[str | None], xs: list[float],
              ys: list[float]) -> None:
    fields = [name.strip().lower() for name in reader.fieldnames or []]
    if "lon" not in fields or "lat" not in fields:
        raise InvalidInput(f"the CSV header {reader.fieldnames} lacks lon and lat", field="body",
                           fix="start the CSV with a header line: id,lon,lat")
    for row, record in enumerate(reader, start=1):
        values = {key.strip().lower(): (value or "").strip() for key, value in record.items()
                  if key}
        try:
            x, y = float(values["lon"]), float(values["lat"])
        except ValueError as error:
            raise InvalidInput(f"CSV row {row}: lon/lat not numbers: {values}"[:200],
                               field=f"row {row}", fix="give decimal degrees") from error
        ids.append(values.get("id"))
        xs.append(x)
        ys.append(y)


CSV_COLUMNS = ["id", "lon", "lat", "covered", "street_code", "community_code", "community_name",
               "grid_code", "grid_name", "building_code", "on_boundary", "outside_coverage",
               "distance_m", "generation"]


def _to_csv(ids: list[str | None], answers: list[dict[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for id_, a in zip(ids, answers, strict=True):
        street, community, grid, building = (a[key] or {} for key in
                                             ("street", "community", "grid", "building"))
        writer.writerow([id_, a["lon"], a["lat"], a["covered"], street.get("code"),
                         community.get("code"), community.get("name"), grid.get("code"),
                         grid.get("name"), building.get("code"), a["on_boundary"],
                         a["outside_coverage"], a["distance_m"], a["generation"]])
    return out.getvalue()
