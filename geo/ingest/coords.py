"""Bring a layer's coordinates to WGS84, from its declared CRS or the caller's, or refuse.

A file with no CRS whose coordinates are longitude/latitude is taken as WGS84 (with a
warning); one whose coordinates are metres is refused, naming the CRS they most likely are
in: around Hangzhou, CGCS2000 3-degree Gauss-Kruger (EPSG:4549, CM 120E).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pyproj
import shapely
from numpy.typing import NDArray

from geo.crs import CRSKind, geometries_to_wgs84, parse_crs
from geo.errors import InvalidInput

logger = logging.getLogger(__name__)

ObjectArray = NDArray[np.object_]
BoolArray = NDArray[np.bool_]
_SAME_AS_WGS84 = (4326, 4490)  # CGCS2000 differs from WGS84 by well under a metre


@dataclass(frozen=True, slots=True)
class _Kinds:
    """Per feature: coordinates in degrees, degrees with lat/lon swapped, or neither."""

    degrees: BoolArray
    swapped: BoolArray
    other: BoolArray
    bounds: NDArray[np.float64]

    @property
    def all_other(self) -> bool:
        """True when every located feature has non-degree coordinates (metres, say)."""
        return bool(self.other.any() and not (self.degrees | self.swapped).any())


def to_wgs84_frame(frame: gpd.GeoDataFrame, *, crs: str | None,
                   name: str) -> tuple[gpd.GeoDataFrame, list[str]]:
    """Return ``frame`` in EPSG:4326 (2-D) and the warnings raised on the way.

    Parameters
    ----------
    frame : GeoDataFrame
        As read, with the CRS the file declares (or none).
    crs : str, optional
        The caller's CRS (anything :func:`geo.crs.parse_crs` accepts); it overrides the
        file's. GCJ-02 and BD-09 are converted exactly.
    name : str
        The file's name, for messages.

    Raises
    ------
    InvalidInput
        No CRS (or a degree CRS) with coordinates that are not degrees, a projected CRS with
        coordinates that are degrees, or coordinates that do not convert.
    """
    geoms = np.asarray(frame.geometry.array, dtype=object)
    if shapely.has_z(geoms).any():
        geoms = shapely.force_2d(geoms)
    kinds = _classify(geoms)
    if crs is not None:
        geoms, warnings = _from_option(geoms, kinds, crs, frame.crs, name)
    elif frame.crs is None:
        geoms, warnings = _undeclared(geoms, kinds, name)
    else:
        geoms, warnings = _from_declared(geoms, kinds, frame.crs, name)
    out = gpd.GeoDataFrame(frame.drop(columns=frame.geometry.name), geometry=geoms,
                           crs="EPSG:4326")
    return out, warnings


def _classify(geoms: ObjectArray) -> _Kinds:
    bounds = shapely.bounds(geoms)
    with np.errstate(invalid="ignore"):
        x = np.abs(bounds[:, [0, 2]])
        y = np.abs(bounds[:, [1, 3]])
        degrees = ((x <= 180) & (y <= 90)).all(axis=1)
        swapped = ~degrees & ((y <= 180) & (x <= 90)).all(axis=1)
    located = np.isfinite(bounds).all(axis=1)
    return _Kinds(degrees, swapped, located & ~degrees & ~swapped, bounds)


def _from_option(geoms: ObjectArray, kinds: _Kinds, crs: str, declared: pyproj.CRS | None,
                 name: str) -> tuple[ObjectArray, list[str]]:
    target = parse_crs(crs)
    warnings = []
    if declared is not None and declared.to_epsg() not in (*_SAME_AS_WGS84, target.epsg):
        warnings.append(f"{name} declares {_describe(declared)}; its coordinates were read as "
                        f"{target.title} as asked.")
    if target.is_lonlat and kinds.all_other:
        raise _not_degrees(kinds, name, f"was given as {target.title}")
    if target.kind in (CRSKind.WGS84, CRSKind.CGCS2000):
        return geoms, warnings
    if not target.is_lonlat and (kinds.degrees | kinds.swapped).all():
        raise _degrees_not_metres(name, target.title)
    return geometries_to_wgs84(geoms, target, field="crs"), warnings


def _undeclared(geoms: ObjectArray, kinds: _Kinds, name: str) -> tuple[ObjectArray, list[str]]:
    if kinds.all_other:
        raise _not_degrees(kinds, name, "has no coordinate reference system")
    return geoms, [f"{name} has no coordinate reference system; its coordinates look like "
                   "longitude/latitude and were taken as WGS84 (EPSG:4326). If they come from "
                   "AMap, Tencent or Baidu maps, import again with --crs gcj02 or --crs bd09."]


def _from_declared(geoms: ObjectArray, kinds: _Kinds, declared: pyproj.CRS,
                   name: str) -> tuple[ObjectArray, list[str]]:
    if declared.is_geographic:
        if kinds.all_other:
            raise _not_degrees(kinds, name, f"declares {_describe(declared)}")
        if declared.to_epsg() in _SAME_AS_WGS84 or declared.equals(pyproj.CRS("OGC:CRS84")):
            return geoms, []
    elif (kinds.degrees | kinds.swapped).all():
        raise _degrees_not_metres(name, _describe(declared))
    try:
        transformer = pyproj.Transformer.from_crs(declared, 4326, always_xy=True)
    except pyproj.exceptions.ProjError as error:  # a local/engineering CRS has no datum
        logger.debug("no transformation from %s", declared, exc_info=error)
        raise _unconvertible(kinds, name, declared) from None

    def project(coords: NDArray[np.float64]) -> NDArray[np.float64]:
        lon, lat = transformer.transform(coords[:, 0], coords[:, 1])
        return np.column_stack([lon, lat])

    out = np.asarray(shapely.transform(geoms, project), dtype=object)
    converted = _classify(out)
    if converted.other.any():
        raise InvalidInput(
            f"{name} declares {_describe(declared)}, but {int(converted.other.sum())} features "
            "do not convert from it to longitude/latitude.", field="crs",
            fix="Check the file's .prj/CRS; if it is wrong, give the right one with --crs "
                "EPSG:NNNN.")
    return out, []


def _describe(crs: pyproj.CRS) -> str:
    epsg = crs.to_epsg()
    return f"EPSG:{epsg} ({crs.name})" if epsg else crs.name


def _unconvertible(kinds: _Kinds, name: str, declared: pyproj.CRS) -> InvalidInput:
    description, epsg = (likely_crs(*_middle(kinds.bounds[kinds.other])) if kinds.other.any()
                         else ("", None))
    guess = f" Its coordinates look like {description}." if epsg else ""
    return InvalidInput(
        f"{name} declares {_describe(declared)} ({declared.type_name}), which cannot be "
        "converted to longitude/latitude: a local or engineering CRS is not tied to the "
        f"earth.{guess}", field="crs",
        fix=f"Give the CRS the survey used with --crs EPSG:{epsg or 'NNNN'}; a site grid must "
            "be georeferenced in GIS first.")


def _middle(bounds: NDArray[np.float64]) -> tuple[float, float]:
    x0, y0 = np.nanmin(bounds[:, 0]), np.nanmin(bounds[:, 1])
    x1, y1 = np.nanmax(bounds[:, 2]), np.nanmax(bounds[:, 3])
    return float((x0 + x1) / 2), float((y0 + y1) / 2)


def _not_degrees(kinds: _Kinds, name: str, context: str) -> InvalidInput:
    bounds = kinds.bounds[kinds.other]
    x0, y0 = np.nanmin(bounds[:, 0]), np.nanmin(bounds[:, 1])
    x1, y1 = np.nanmax(bounds[:, 2]), np.nanmax(bounds[:, 3])
    description, epsg = likely_crs(*_middle(bounds))
    option = f"--crs EPSG:{epsg}" if epsg else "--crs EPSG:NNNN"
    return InvalidInput(
        f"{name} {context}, and its coordinates are not longitude/latitude "
        f"(x {x0:,.0f} to {x1:,.0f}, y {y0:,.0f} to {y1:,.0f}): they look like {description}.",
        field="crs", fix=f"Give the CRS the survey used with {option} (read_layer(..., crs="
                         f"'{option[6:]}')), or ship the file with its CRS (a Shapefile's .prj).")


def _degrees_not_metres(name: str, crs_title: str) -> InvalidInput:
    return InvalidInput(
        f"{name} is said to be in {crs_title}, a projected CRS in metres, but its coordinates "
        "look like longitude/latitude degrees.", field="crs",
        fix="Import it with --crs wgs84 (or gcj02/bd09 for coordinates from Chinese web maps).")


def likely_crs(x: float, y: float) -> tuple[str, int | None]:
    """Guess the CRS of projected coordinates around a point in China.

    Parameters
    ----------
    x, y : float
        Easting and northing (metres) near the middle of the data.

    Returns
    -------
    tuple
        A description for a message, and the most likely EPSG code (None if no guess).
    """
    zone = int(x // 1_000_000)
    if 1.0e6 <= y <= 6.5e6 and 25 <= zone <= 45:
        epsg = 4513 + zone - 25
        return (f"CGCS2000 3-degree Gauss-Kruger metres with the zone number ({zone}) in front "
                f"of the easting, i.e. EPSG:{epsg} (zone {zone}, CM {zone * 3}E)", epsg)
    if 1.0e6 <= y <= 6.5e6 and 13 <= zone <= 23:
        epsg = 4491 + zone - 13
        return (f"CGCS2000 6-degree Gauss-Kruger metres with the zone number ({zone}) in front "
                f"of the easting, i.e. EPSG:{epsg} (zone {zone}, CM {zone * 6 - 3}E)", epsg)
    if 2.0e5 <= x <= 8.0e5 and 1.0e6 <= y <= 6.5e6:
        return ("CGCS2000 3-degree Gauss-Kruger metres without a zone prefix, e.g. EPSG:4549 "
                "(CM 120E, Hangzhou); EPSG:4534 to EPSG:4554 are CM 75E to CM 135E", 4549)
    if 8.0e6 <= abs(x) <= 1.6e7 and 0 < y <= 7.6e6:
        return "Web Mercator metres (EPSG:3857)", 3857
    return "projected coordinates in a CRS that cannot be guessed", None
