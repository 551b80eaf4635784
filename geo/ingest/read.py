"""Read one layer of a survey file (GeoJSON, Shapefile, GeoPackage, KML) into WGS84.

The frame :func:`read_layer` returns carries what the caller should show the admin in
``frame.attrs``:

- ``frame.attrs["warnings"]``: list of str, e.g. "no CRS, taken as WGS84";
  :func:`geo.ingest.validate.validate` turns them into ``read`` warnings in its report.
- ``frame.attrs["source"]``: dict with ``file``, ``layer``, ``format``, ``encoding`` and
  ``crs`` (what the file declared) and ``crs_used``, for the report and the generation's
  provenance.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import Any

import geopandas as gpd
import pyogrio

from geo.errors import InvalidInput
from geo.ingest.coords import to_wgs84_frame
from geo.ingest.sources import FORMATS, LayerSource, resolve_source, unreadable

__all__ = ["FORMATS", "LayerSource", "read_layer", "read_warnings", "resolve_source"]

logger = logging.getLogger(__name__)

# LIBKML's per-placemark styling columns: nothing an import maps, and noise in messages.
_KML_STYLE_COLUMNS = ("timestamp", "begin", "end", "altitudeMode", "tessellate", "extrude",
                      "visibility", "drawOrder", "icon", "snippet")


def read_layer(path: Path | str, *, layer: str | None = None, crs: str | None = None,
               encoding: str | None = None) -> gpd.GeoDataFrame:
    """Read a layer into a GeoDataFrame in EPSG:4326.

    Parameters
    ----------
    path : Path or str
        A ``.geojson``/``.json`` (FeatureCollection, single Feature or bare geometry),
        ``.shp``, folder holding a Shapefile, ``.zip`` holding one, ``.gpkg``, ``.kml`` or
        ``.kmz``.
    layer : str, optional
        The layer to read; required when the file holds several (the error lists them).
    crs : str, optional
        The coordinates' CRS, overriding the file's: ``wgs84``, ``gcj02``, ``bd09``,
        ``cgcs2000``, ``EPSG:NNNN``.
    encoding : str, optional
        The attribute table's encoding when the file does not say (a Shapefile without
        ``.cpg``), e.g. ``GBK``.

    Returns
    -------
    GeoDataFrame
        The file's attribute columns and a ``geometry`` column, 2-D, EPSG:4326; warnings
        and provenance in ``frame.attrs`` (see the module docstring).

    Raises
    ------
    InvalidInput
        With ``field`` (``file``, ``layer``, ``crs`` or ``encoding``) and ``fix``: a missing
        or unsupported file, a damaged one, an unknown layer, no features, undeclared
        non-degree coordinates (naming the likely CRS), an undeclared non-UTF-8 table.
    """
    path = Path(path)
    source = resolve_source(path, layer=layer, encoding=encoding)
    frame, notes = _read(source)
    if frame.empty:
        where = f"layer {layer!r} of {source.name}" if layer else source.name
        raise InvalidInput(f"{where} holds no features.", field="file",
                           fix="Check the export selected the features (and the right layer).")
    declared = frame.crs.to_string() if frame.crs is not None else None
    frame, crs_notes = to_wgs84_frame(frame, crs=crs, name=source.name)
    frame.attrs["warnings"] = notes + crs_notes
    frame.attrs["source"] = {"file": source.name, "layer": source.layer,
                             "format": source.format, "encoding": source.encoding,
                             "crs": declared, "crs_used": crs or declared or "EPSG:4326"}
    logger.info("read %d features from %s", len(frame), source.name)
    return frame


def read_warnings(frame: gpd.GeoDataFrame) -> list[str]:
    """The warnings :func:`read_layer` (and normalising) attached to ``frame``."""
    return list(frame.attrs.get("warnings", []))


def _read(source: LayerSource) -> tuple[gpd.GeoDataFrame, list[str]]:
    """Read through pyogrio's Arrow path; GDAL's warnings come back as notes."""
    options: dict[str, Any] = {"layer": source.layer, "use_arrow": True}
    if source.encoding:
        options["encoding"] = source.encoding
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            frame = pyogrio.read_dataframe(source.gdal_path, **options)
        except UnicodeError as error:
            raise _undecodable(source, error) from None
        except Exception as error:  # GDAL and Arrow raise several classes; all mean unreadable
            if "Wrapping" in str(error) or "UTF-8" in str(error):
                raise _undecodable(source, error) from None
            raise unreadable(source, error) from None
    notes = [f"{source.name}: {w.message}" for w in caught
             if issubclass(w.category, (RuntimeWarning, UserWarning))]
    if not isinstance(frame, gpd.GeoDataFrame) or frame.geometry.name not in frame:
        raise InvalidInput(f"{source.name} has no geometry column.", field="file",
                           fix="Export the layer with its geometries.")
    if source.format == "KML":
        frame = frame.drop(columns=[c for c in _KML_STYLE_COLUMNS if c in frame])
    return frame, notes


def _undecodable(source: LayerSource, error: BaseException) -> InvalidInput:
    logger.debug("cannot decode %s", source.gdal_path, exc_info=error)
    used = source.encoding or "the encoding the file declares"
    return InvalidInput(f"{source.name}: the attribute table cannot be decoded with {used}.",
                        field="encoding",
                        fix="Pass the table's real encoding, e.g. --encoding GBK.")
