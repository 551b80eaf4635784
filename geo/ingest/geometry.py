"""Per-feature geometry checks: missing, wrong type, lat/lon swapped, invalid (repaired or not)."""

from __future__ import annotations

import logging
import math
import re
from dataclasses import dataclass
from typing import Any

import numpy as np
import shapely
from numpy.typing import NDArray

from geo.crs import in_china_bbox
from geo.ingest.report import Finding, Severity

logger = logging.getLogger(__name__)

ObjectArray = NDArray[np.object_]
BoolArray = NDArray[np.bool_]
FloatArray = NDArray[np.float64]

REPAIR_AREA_TOLERANCE = 0.01
"""make_valid repairs are accepted when they change the area by at most this fraction."""
_POLYGON, _MULTIPOLYGON, _COLLECTION = 3, 6, 7
_MULTI_TYPES = (4, 5, 6, 7)
_TYPE_NAMES = {0: "Point", 1: "LineString", 2: "LinearRing", 3: "Polygon", 4: "MultiPoint",
               5: "MultiLineString", 6: "MultiPolygon", 7: "GeometryCollection"}
_REASON_POINT = re.compile(r"\[\s*([-+\d.eE]+)\s+([-+\d.eE]+)")
_WGS84_A, _WGS84_E2 = 6378137.0, 0.00669437999014


@dataclass
class Features:
    """The features being validated: geometries, ids and 1-based rows, plus what is usable."""

    kind: str
    geoms: ObjectArray
    ids: ObjectArray
    usable: BoolArray

    def label(self, i: int | np.integer[Any]) -> str:
        """A feature's name for messages: its code, else its row."""
        code = self.ids[i]
        return f"{code}" if code is not None else f"row {i + 1}"

    def finding(self, severity: Severity, check: str, i: int | np.integer[Any], message: str,
                point: tuple[float, float] | None = None) -> Finding:
        """A finding about feature ``i``, located at ``point`` or on the feature."""
        lon, lat = point if point is not None else representative_point(self.geoms[i])
        return Finding(severity, check, self.ids[i], message, lon, lat, row=int(i) + 1)


    def findings(self, severity: Severity, check: str, rows: NDArray[np.integer[Any]],
                 messages: list[str]) -> list[Finding]:
        """Findings about many features at once, each located on its feature."""
        rows = np.asarray(rows, dtype=np.int64)
        lon, lat = representative_points(self.geoms[rows])
        return [Finding(severity, check, self.ids[i], message, lon[k], lat[k], row=int(i) + 1)
                for k, (i, message) in enumerate(zip(rows, messages, strict=True))]


def m2_per_deg2(lat: FloatArray | float) -> FloatArray:
    """Square metres in one square degree at latitude ``lat`` on the WGS84 ellipsoid.

    Areas computed in degrees² times this are within 0.1% of the true area over a street
    or a district: the scale changes by less than that over 5 km of latitude.
    """
    phi = np.radians(np.asarray(lat, dtype=float))
    w = 1.0 - _WGS84_E2 * np.sin(phi) ** 2
    meridian = _WGS84_A * (1.0 - _WGS84_E2) / w ** 1.5
    normal = _WGS84_A / np.sqrt(w)
    return np.asarray((math.pi / 180.0) ** 2 * meridian * normal * np.cos(phi))


def area_m2(geoms: ObjectArray) -> FloatArray:
    """Approximate areas in m² of WGS84 geometries (NaN for missing ones)."""
    bounds = shapely.bounds(geoms)
    return np.asarray(shapely.area(geoms) * m2_per_deg2((bounds[:, 1] + bounds[:, 3]) / 2))


def representative_points(geoms: ObjectArray) -> tuple[list[float | None], list[float | None]]:
    """:func:`representative_point` of many geometries, vectorised when GEOS allows."""
    try:
        points = shapely.point_on_surface(geoms)
    except shapely.errors.GEOSException:
        pairs = [representative_point(g) for g in geoms]
        return [p[0] for p in pairs], [p[1] for p in pairs]
    xy = shapely.get_coordinates(points, include_z=False, return_index=True)
    lon: list[float | None] = [None] * len(geoms)
    lat: list[float | None] = [None] * len(geoms)
    for (x, y), k in zip(xy[0].tolist(), xy[1].tolist(), strict=True):
        lon[k], lat[k] = x, y
    return lon, lat


def representative_point(geom: shapely.Geometry | None) -> tuple[float | None, float | None]:
    """A point on the geometry (its bounds' centre when GEOS cannot find one)."""
    if geom is None or geom.is_empty:
        return None, None
    try:
        point = shapely.point_on_surface(geom)
        if not point.is_empty:
            return point.x, point.y
    except shapely.errors.GEOSException:
        pass
    x0, y0, x1, y1 = geom.bounds
    return (x0 + x1) / 2, (y0 + y1) / 2


def check_geometries(features: Features) -> list[Finding]:
    """Check every geometry; repair what can be repaired in place, mark the rest unusable.

    Afterwards ``features.geoms`` holds MultiPolygons for usable features, and
    ``features.usable`` says which features the topology checks may use.
    """
    findings: list[Finding] = []
    geoms = features.geoms
    missing = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    for i in np.flatnonzero(missing):
        findings.append(Finding("error", "geometry_missing", features.ids[i],
                                f"{features.label(i)} has no geometry.", row=int(i) + 1))
    types = shapely.get_type_id(geoms)
    collections = np.flatnonzero((types == _COLLECTION) & ~missing)
    polygonal = np.isin(types, (_POLYGON, _MULTIPOLYGON)) & ~missing
    polygonal[collections] = _repair_collections(features, collections, findings)
    for i in np.flatnonzero(~polygonal & ~missing & (types != _COLLECTION)):
        findings.append(features.finding(
            "error", "geometry_type", int(i), f"{features.label(i)} is a "
            f"{_TYPE_NAMES.get(int(types[i]), 'geometry')}; {features.kind} must be polygons."))
    located = _check_coordinates(features, polygonal, findings)
    valid = _repair_invalid(features, located, findings)
    features.usable = located & valid
    features.geoms = _as_multipolygons(features.geoms, features.usable)
    return findings


def _repair_collections(features: Features, rows: NDArray[np.intp],
                        findings: list[Finding]) -> BoolArray:
    """GeometryCollections of polygons become MultiPolygons (warning); others are errors."""
    parts, index = shapely.get_parts(features.geoms[rows], return_index=True)
    others = ~np.isin(shapely.get_type_id(parts), (_POLYGON, _MULTIPOLYGON))
    others &= ~shapely.is_empty(parts)
    fixed = np.zeros(len(rows), dtype=bool)
    for k, i in enumerate(rows):
        kinds = sorted({_TYPE_NAMES[int(t)] for t in shapely.get_type_id(parts[index == k])})
        if others[index == k].any() or not kinds:
            findings.append(features.finding(
                "error", "geometry_type", int(i), f"{features.label(i)} is a GeometryCollection "
                f"of {', '.join(kinds) or 'nothing'}; {features.kind} must be polygons."))
            continue
        features.geoms[i] = polygonal_parts(np.array([features.geoms[i]], dtype=object))[0]
        fixed[k] = True
        findings.append(features.finding(
            "warning", "geometry_type", int(i), f"{features.label(i)} is a GeometryCollection "
            "of polygons; repaired into a MultiPolygon."))
    return fixed


def _check_coordinates(features: Features, candidates: BoolArray,
                       findings: list[Finding]) -> BoolArray:
    """Flag lat/lon swapped and out-of-range coordinates; returns the features that are fine."""
    bounds = shapely.bounds(features.geoms)
    cx, cy = (bounds[:, 0] + bounds[:, 2]) / 2, (bounds[:, 1] + bounds[:, 3]) / 2
    with np.errstate(invalid="ignore"):
        degrees = ((np.abs(bounds[:, [0, 2]]) <= 180).all(1)
                   & (np.abs(bounds[:, [1, 3]]) <= 90).all(1))
    swapped = candidates & in_china_bbox(cy, cx) & ~in_china_bbox(cx, cy)
    for i in np.flatnonzero(swapped):
        findings.append(features.finding(
            "error", "latlon_swapped", int(i), f"{features.label(i)} has its coordinates "
            f"swapped: x={cx[i]:.5f}, y={cy[i]:.5f} is latitude, longitude; swap them back "
            "(longitude first) and export again.", point=(float(cy[i]), float(cx[i]))))
    out_of_range = candidates & ~swapped & ~degrees
    for i in np.flatnonzero(out_of_range):
        findings.append(Finding(
            "error", "coordinates_range", features.ids[i], f"{features.label(i)} has coordinates "
            f"that are not longitude/latitude (x={cx[i]:.1f}, y={cy[i]:.1f}).", row=int(i) + 1))
    return np.asarray(candidates & ~swapped & ~out_of_range)


def _repair_invalid(features: Features, candidates: BoolArray,
                    findings: list[Finding]) -> BoolArray:
    """make_valid invalid polygons when the area changes by at most 1%; errors otherwise."""
    ok = np.ones(len(features.geoms), dtype=bool)
    rows = np.flatnonzero(candidates)
    rows = rows[~shapely.is_valid(features.geoms[rows])]
    if not len(rows):
        return ok
    before = features.geoms[rows]
    reasons = shapely.is_valid_reason(before)
    after = polygonal_parts(shapely.make_valid(before))
    area0, area1 = area_m2(before), np.nan_to_num(area_m2(after))
    with np.errstate(divide="ignore", invalid="ignore"):
        change = np.where(area0 > 0, np.abs(area1 - area0) / area0, np.inf)
    for k, i in enumerate(rows):
        point = _reason_point(str(reasons[k]))
        what = f"{features.label(i)} is invalid ({reasons[k]})"
        if change[k] <= REPAIR_AREA_TOLERANCE and after[k] is not None:
            features.geoms[i] = after[k]
            findings.append(features.finding(
                "warning", "geometry_invalid", int(i), f"{what}; repaired with make_valid, "
                f"area {area0[k]:,.1f} m² -> {area1[k]:,.1f} m² ({change[k]:.2%}).", point))
            continue
        ok[i] = False
        findings.append(features.finding(
            "error", "geometry_invalid", int(i), f"{what}; make_valid would change its area "
            f"from {area0[k]:,.1f} m² to {area1[k]:,.1f} m² ({_change(change[k])}), more than "
            "the 1% gridmap repairs on its own: redraw it (e.g. a self-intersecting outline "
            "drawn as a figure eight).", point))
    return ok


def _change(ratio: float) -> str:
    return "its rings cancel out" if not np.isfinite(ratio) else f"a {ratio:.0%} change"


def _reason_point(reason: str) -> tuple[float, float] | None:
    match = _REASON_POINT.search(reason)
    return (float(match.group(1)), float(match.group(2))) if match else None


def polygonal_parts(geoms: ObjectArray) -> ObjectArray:
    """The polygons inside each geometry as one MultiPolygon (None when there are none)."""
    parts, index = shapely.get_parts(geoms, return_index=True)
    while True:
        multi = np.isin(shapely.get_type_id(parts), _MULTI_TYPES)
        if not multi.any():
            break
        sub, sub_index = shapely.get_parts(parts[multi], return_index=True)
        parts = np.concatenate([parts[~multi], sub])
        index = np.concatenate([index[~multi], index[multi][sub_index]])
    keep = (shapely.get_type_id(parts) == _POLYGON) & ~shapely.is_empty(parts)
    order = np.argsort(index[keep], kind="stable")
    out = np.full(len(geoms), None, dtype=object)
    shapely.multipolygons(parts[keep][order], indices=index[keep][order], out=out)
    return out


def _as_multipolygons(geoms: ObjectArray, usable: BoolArray) -> ObjectArray:
    out = geoms.copy()
    single = usable & (shapely.get_type_id(geoms) == _POLYGON)
    if single.any():
        out[single] = shapely.multipolygons(geoms[single], indices=np.arange(int(single.sum())))
    return out
