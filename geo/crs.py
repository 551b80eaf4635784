"""The coordinate systems gridmap accepts, and conversion of coordinates and geometries to WGS84.

Stored coordinates are WGS84 (EPSG:4326). Every API that takes a location also takes its
CRS, parsed by :func:`parse_crs`: WGS84, CGCS2000 (EPSG:4490, treated as equal to WGS84:
the two differ by well under a metre), the Chinese web-map offsets GCJ-02 and BD-09, or
any horizontal EPSG CRS that PROJ knows (survey files around Hangzhou often use CGCS2000
3-degree Gauss-Kruger, EPSG:4549).

Axis order is always x then y: longitude then latitude, or easting then northing,
whatever the EPSG definition says (pyproj ``always_xy=True``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache
from typing import Any, overload

import numpy as np
import pyproj
import shapely
from numpy.typing import ArrayLike, NDArray
from pyproj.exceptions import CRSError

from geo.crs_offsets import (
    _as_arrays,
    _restore,
    bd09_to_gcj02,
    bd09_to_wgs84,
    gcj02_to_bd09,
    gcj02_to_wgs84,
    in_china_bbox,
    wgs84_to_bd09,
    wgs84_to_gcj02,
)
from geo.errors import InvalidInput, UnknownCRS

__all__ = [
    "BD09", "CGCS2000", "GCJ02", "WGS84", "CRSKind", "InputCRS", "bd09_to_gcj02", "bd09_to_wgs84",
    "from_wgs84", "gcj02_to_bd09", "gcj02_to_wgs84", "geometries_from_wgs84",
    "geometries_to_wgs84", "in_china_bbox", "looks_like_lonlat", "parse_crs", "to_wgs84",
    "wgs84_to_bd09", "wgs84_to_gcj02",
]

FloatArray = NDArray[np.float64]
_ArrayConverter = Callable[[FloatArray, FloatArray, "InputCRS", str], tuple[FloatArray, FloatArray]]

ACCEPTED_FORMS = ("wgs84, epsg:4326, 4326, cgcs2000, epsg:4490, gcj02, gcj-02, bd09, bd-09, "
                  "or EPSG:<code> for any horizontal CRS in the EPSG registry (e.g. EPSG:4549)")


class CRSKind(StrEnum):
    """How coordinates in a CRS reach WGS84."""

    WGS84 = "wgs84"
    CGCS2000 = "cgcs2000"
    GCJ02 = "gcj02"
    BD09 = "bd09"
    EPSG = "epsg"


_LABELS = {CRSKind.WGS84: ("WGS84", "WGS84 (EPSG:4326)"),
           CRSKind.CGCS2000: ("CGCS2000", "CGCS2000 (EPSG:4490)"),
           CRSKind.GCJ02: ("GCJ-02", "GCJ-02 (AMap, Tencent, WeChat)"),
           CRSKind.BD09: ("BD-09", "BD-09 (Baidu)")}


@dataclass(frozen=True, slots=True)
class InputCRS:
    """A coordinate system a caller's coordinates are in; build it with :func:`parse_crs`."""

    kind: CRSKind
    epsg: int | None = None

    @property
    def name(self) -> str:
        """Short display name that :func:`parse_crs` accepts back: ``GCJ-02``, ``EPSG:4549``."""
        return _LABELS[self.kind][0] if self.kind in _LABELS else f"EPSG:{self.epsg}"

    @property
    def title(self) -> str:
        """Description for messages: ``EPSG:4549 (CGCS2000 / 3-degree Gauss-Kruger CM 120E)``."""
        if self.kind in _LABELS:
            return _LABELS[self.kind][1]
        return f"{self.name} ({_pyproj_crs(self.epsg or 0).name})"

    @property
    def is_lonlat(self) -> bool:
        """Whether coordinates are longitude/latitude degrees (everything but projected EPSG)."""
        return self.kind is not CRSKind.EPSG or _pyproj_crs(self.epsg or 0).is_geographic

    def __str__(self) -> str:
        return self.name


WGS84 = InputCRS(CRSKind.WGS84, 4326)
CGCS2000 = InputCRS(CRSKind.CGCS2000, 4490)
GCJ02 = InputCRS(CRSKind.GCJ02)
BD09 = InputCRS(CRSKind.BD09)

# Keys are lower-cased with spaces, hyphens and underscores removed.
_NAMED = {"wgs84": WGS84, "crs84": WGS84, "ogc:crs84": WGS84, "cgcs2000": CGCS2000,
          "gcj02": GCJ02, "bd09": BD09}
_EPSG_FORMS = (
    re.compile(r"(?:epsg:)?\s*(\d{1,6})"),
    re.compile(r"urn:ogc:def:crs:epsg:[\d.]*:(\d{1,6})"),
    re.compile(r"https?://www\.opengis\.net/def/crs/epsg/[\d.]+/(\d{1,6})"),
)
_CRS84_URI = re.compile(r"https?://www\.opengis\.net/def/crs/ogc/1\.3/crs84")
# Converted points this far outside an EPSG CRS's area of use are taken as the wrong CRS
# (lon/lat sent as EPSG:4549 would land near the equator, not in Zhejiang).
_AREA_MARGIN_DEG = 3.0


def parse_crs(value: str | int | InputCRS) -> InputCRS:
    """Parse a CRS name as a caller writes it.

    Parameters
    ----------
    value : str, int or InputCRS
        Case-insensitive ``wgs84``, ``epsg:4326``, ``4326``, ``cgcs2000``, ``epsg:4490``,
        ``gcj02``/``gcj-02``, ``bd09``/``bd-09``, ``EPSG:<code>`` (also a bare code, an OGC
        URN or ``http://www.opengis.net/def/crs/EPSG/0/<code>``); an ``InputCRS`` is
        returned as it is.

    Returns
    -------
    InputCRS
        EPSG:4326 and EPSG:4490 come back as :data:`WGS84` and :data:`CGCS2000`.

    Raises
    ------
    UnknownCRS
        The value is none of those, or names an EPSG code PROJ does not know or that is
        not a horizontal (geographic or projected) CRS. The message lists the accepted forms.
    """
    if isinstance(value, InputCRS):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return _from_epsg(value, str(value))
    if not isinstance(value, str):
        raise _unknown(repr(value), "it is not a string")
    text = value.strip().lower()
    named = _NAMED.get(re.sub(r"[\s_-]", "", text))
    if named is not None:
        return named
    if _CRS84_URI.fullmatch(text):
        return WGS84
    for form in _EPSG_FORMS:
        match = form.fullmatch(text)
        if match:
            return _from_epsg(int(match.group(1)), value)
    raise _unknown(repr(value), "it is not a recognised CRS name")


def _from_epsg(code: int, value: str) -> InputCRS:
    if code == 4326:
        return WGS84
    if code == 4490:
        return CGCS2000
    try:
        crs = _pyproj_crs(code)
    except CRSError:
        raise _unknown(repr(value), f"EPSG:{code} is not in the EPSG registry") from None
    if not (crs.is_geographic or crs.is_projected):
        raise _unknown(repr(value), f"EPSG:{code} ({crs.name}) is a {crs.type_name}, "
                                    "not a horizontal CRS")
    return InputCRS(CRSKind.EPSG, code)


def _unknown(shown: str, reason: str) -> UnknownCRS:
    return UnknownCRS(f"Unknown coordinate reference system {shown}: {reason}. "
                      f"Accepted: {ACCEPTED_FORMS}.",
                      field="crs", fix=f"Use one of: {ACCEPTED_FORMS}.")


@lru_cache(maxsize=64)
def _pyproj_crs(code: int) -> pyproj.CRS:
    return pyproj.CRS.from_epsg(code)


@lru_cache(maxsize=64)
def _area_of_use(code: int) -> tuple[float, float, float, float]:
    """The EPSG area of use, widened: data often spill a little past it."""
    area = _pyproj_crs(code).area_of_use
    if area is None or area.west > area.east:  # unknown, or across the antimeridian
        return (-180.0, -90.0, 180.0, 90.0)
    m = _AREA_MARGIN_DEG
    return (area.west - m, area.south - m, area.east + m, area.north + m)


@lru_cache(maxsize=64)
def _transformer(code: int) -> pyproj.Transformer:
    # Built once per code (it costs milliseconds); pyproj >= 3.1 makes it thread-safe.
    return pyproj.Transformer.from_crs(code, 4326, always_xy=True)


@overload
def looks_like_lonlat(x: float, y: float) -> bool: ...
@overload
def looks_like_lonlat(x: ArrayLike, y: ArrayLike) -> NDArray[np.bool_]: ...
def looks_like_lonlat(x: ArrayLike, y: ArrayLike) -> Any:
    """Return whether values can be longitude/latitude degrees (finite, |x| <= 180, |y| <= 90).

    Parameters
    ----------
    x, y : float or array_like
        Candidate longitude and latitude.

    Returns
    -------
    bool or numpy.ndarray of bool
        A Python bool for scalar input, else a boolean array of the broadcast shape.
    """
    xs, ys, scalar = _as_arrays(x, y)
    ok = _lonlat_mask(xs, ys)
    return bool(ok) if scalar else ok


def _lonlat_mask(x: FloatArray, y: FloatArray) -> NDArray[np.bool_]:
    with np.errstate(invalid="ignore"):
        return (np.abs(x) <= 180.0) & (np.abs(y) <= 90.0)


def _check(ok: NDArray[np.bool_], x: FloatArray, y: FloatArray, message: str, fix: str,
           field: str) -> None:
    """Raise InvalidInput naming the first bad point; NaN input counts as missing, not bad."""
    bad = ~ok & ~(np.isnan(x) | np.isnan(y))
    if bad.any():
        first = np.flatnonzero(bad.reshape(-1))[0]
        fx, fy = float(x.reshape(-1)[first]), float(y.reshape(-1)[first])
        raise InvalidInput(f"{int(bad.sum())} of {bad.size} coordinates {message} "
                           f"(first: x={fx!r}, y={fy!r})", field=field, fix=fix)


def _to_wgs84_arrays(x: FloatArray, y: FloatArray, crs: InputCRS,
                     field: str) -> tuple[FloatArray, FloatArray]:
    if crs.is_lonlat:
        _check(_lonlat_mask(x, y), x, y, f"are not longitude/latitude degrees in {crs.name}",
               "Send longitude first, then latitude, in degrees; for projected coordinates "
               "(e.g. Gauss-Kruger metres) name their EPSG code as the CRS.", field)
    with np.errstate(invalid="ignore", over="ignore"):
        if crs.kind in (CRSKind.WGS84, CRSKind.CGCS2000):
            return x.copy(), y.copy()
        if crs.kind is CRSKind.GCJ02:
            return gcj02_to_wgs84(x, y)
        if crs.kind is CRSKind.BD09:
            return bd09_to_wgs84(x, y)
        lon, lat = _transformer(crs.epsg or 0).transform(x, y)
    lon = np.asarray(lon, dtype=np.float64)
    lat = np.asarray(lat, dtype=np.float64)
    west, south, east, north = _area_of_use(crs.epsg or 0)
    with np.errstate(invalid="ignore"):
        in_area = (lon >= west) & (lon <= east) & (lat >= south) & (lat <= north)
    _check(in_area, x, y, f"do not convert from {crs.title} to a place in its area of use",
           f"Check the coordinates are {crs.title}, x (easting) first. Gauss-Kruger eastings "
           "with a zone prefix (40500000 rather than 500000) need the zone's CRS, e.g. "
           "EPSG:4528 rather than EPSG:4549.", field)
    return lon, lat


def _from_wgs84_arrays(lon: FloatArray, lat: FloatArray, crs: InputCRS,
                       field: str) -> tuple[FloatArray, FloatArray]:
    _check(_lonlat_mask(lon, lat), lon, lat, "are not WGS84 longitude/latitude degrees",
           "Send WGS84 longitude first, then latitude, in degrees.", field)
    with np.errstate(invalid="ignore", over="ignore"):
        if crs.kind in (CRSKind.WGS84, CRSKind.CGCS2000):
            return lon.copy(), lat.copy()
        if crs.kind is CRSKind.GCJ02:
            return wgs84_to_gcj02(lon, lat)
        if crs.kind is CRSKind.BD09:
            return wgs84_to_bd09(lon, lat)
        x, y = _transformer(crs.epsg or 0).transform(lon, lat, direction="INVERSE")
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    _check(np.isfinite(x) & np.isfinite(y), lon, lat, f"cannot be expressed in {crs.title}",
           "Choose a CRS whose area of use covers the data, or export in WGS84.", field)
    return x, y


def to_wgs84(x: ArrayLike, y: ArrayLike, crs: InputCRS | str, *,
             field: str = "coordinates") -> tuple[Any, Any]:
    """Convert coordinates in ``crs`` to WGS84 longitude/latitude.

    Parameters
    ----------
    x, y : float or array_like
        Longitude/latitude degrees, or easting/northing for a projected EPSG CRS.
    crs : InputCRS or str
        Anything :func:`parse_crs` accepts.
    field : str
        The input's name, reported in errors.

    Returns
    -------
    tuple
        WGS84 ``(lon, lat)``: floats for scalar input, float64 arrays of the broadcast
        shape otherwise. NaN input stays NaN.

    Raises
    ------
    UnknownCRS
        ``crs`` cannot be parsed.
    InvalidInput
        Degrees out of range (often swapped or projected coordinates sent as lon/lat), or
        projected coordinates that do not convert to a valid longitude/latitude.
    """
    xs, ys, scalar = _as_arrays(x, y)
    lon, lat = _to_wgs84_arrays(xs, ys, parse_crs(crs), field)
    return _restore(lon, lat, scalar)


def from_wgs84(lon: ArrayLike, lat: ArrayLike, crs: InputCRS | str, *,
               field: str = "coordinates") -> tuple[Any, Any]:
    """Convert WGS84 longitude/latitude to ``crs`` (e.g. GCJ-02 for AMap exports).

    Parameters
    ----------
    lon, lat : float or array_like
        WGS84 degrees.
    crs : InputCRS or str
        Anything :func:`parse_crs` accepts.
    field : str
        The input's name, reported in errors.

    Returns
    -------
    tuple
        ``(x, y)`` in ``crs``: floats for scalar input, float64 arrays otherwise.

    Raises
    ------
    UnknownCRS
        ``crs`` cannot be parsed.
    InvalidInput
        Degrees out of range, or points the target CRS cannot express.
    """
    lons, lats, scalar = _as_arrays(lon, lat)
    x, y = _from_wgs84_arrays(lons, lats, parse_crs(crs), field)
    return _restore(x, y, scalar)


def _transform_geometries(geoms: Any, crs: InputCRS | str, field: str,
                          convert: _ArrayConverter) -> NDArray[np.object_]:
    parsed = parse_crs(crs)

    def fn(coords: FloatArray) -> FloatArray:
        out = coords.copy()
        out[:, 0], out[:, 1] = convert(coords[:, 0], coords[:, 1], parsed, field)
        return out

    # include_z=None keeps Z where geometries have it (survey files often do).
    return np.asarray(shapely.transform(np.asarray(geoms, dtype=object), fn, include_z=None))


def geometries_to_wgs84(geoms: Any, crs: InputCRS | str, *,
                        field: str = "geometry") -> NDArray[np.object_]:
    """Convert shapely geometries from ``crs`` to WGS84, all vertices in one vectorised pass.

    Parameters
    ----------
    geoms : array_like of shapely.Geometry
        A numpy array, list or GeoSeries; ``None`` entries stay ``None``.
    crs : InputCRS or str
        Anything :func:`parse_crs` accepts.
    field : str
        The input's name, reported in errors.

    Returns
    -------
    numpy.ndarray of shapely.Geometry
        Same shape as ``geoms``; Z values are kept unchanged.

    Raises
    ------
    UnknownCRS, InvalidInput
        As :func:`to_wgs84`.
    """
    return _transform_geometries(geoms, crs, field, _to_wgs84_arrays)


def geometries_from_wgs84(geoms: Any, crs: InputCRS | str, *,
                          field: str = "geometry") -> NDArray[np.object_]:
    """Convert shapely geometries from WGS84 to ``crs``; the inverse of :func:`geometries_to_wgs84`.

    Parameters
    ----------
    geoms : array_like of shapely.Geometry
        WGS84 geometries; ``None`` entries stay ``None``.
    crs : InputCRS or str
        Anything :func:`parse_crs` accepts.
    field : str
        The input's name, reported in errors.

    Returns
    -------
    numpy.ndarray of shapely.Geometry
        Same shape as ``geoms``; Z values are kept unchanged.
    """
    return _transform_geometries(geoms, crs, field, _from_wgs84_arrays)
