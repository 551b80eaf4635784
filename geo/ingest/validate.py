"""Validate a normalised layer before import: every problem as a finding, errors block the import.

>>> report = validate("grids", grids, extent=street, parents=communities)  # doctest: +SKIP
>>> report.ok, report.errors, report.warnings  # doctest: +SKIP
(True, 0, 2)
>>> print(report.to_table())  # doctest: +SKIP
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geo.errors import InvalidInput
from geo.ingest.attributes import check_numbers, check_text
from geo.ingest.fields import COLUMNS, KINDS, Kind
from geo.ingest.geometry import Features, check_geometries
from geo.ingest.report import Finding, Report
from geo.ingest.topology import (
    check_buildings,
    check_extent,
    check_gaps,
    check_overlaps,
    check_parents,
)

__all__ = ["Finding", "Report", "validate"]

logger = logging.getLogger(__name__)

CODE_LENGTHS = {"communities": 12, "grids": 32, "buildings": 32}
"""The longest code each kind's table holds."""
_ROWS_NAMED = 10  # rows listed for one duplicated code


def validate(kind: Kind, frame: gpd.GeoDataFrame, *, extent: shapely.Geometry | None = None,
             parents: gpd.GeoDataFrame | None = None,
             existing_codes: Iterable[str] | None = None) -> Report:
    """Check a layer for everything that would make its import wrong.

    Parameters
    ----------
    kind : {"communities", "grids", "buildings"}
        What ``frame`` holds.
    frame : GeoDataFrame
        As :func:`geo.ingest.fields.normalise` returns it (EPSG:4326); notes in
        ``frame.attrs["warnings"]`` become ``read`` warnings.
    extent : shapely Polygon or MultiPolygon, optional
        The street's boundary (WGS84); features beyond it by more than 500 m are errors,
        features partly beyond it warnings.
    parents : GeoDataFrame, optional
        ``code`` and geometry of the communities (for grids) or grids (for buildings).
        Grids are then checked to name a known community, lie within it and leave no gap in
        it; buildings to lie in a grid and not straddle two.
    existing_codes : iterable of str, optional
        Codes already taken in the database: the file using one is an error.

    Returns
    -------
    Report
        Findings (errors first) and ``report.frame``: the frame with geometries repaired
        and made MultiPolygon; for buildings ``floors`` as Int64 (NA where unknown or at
        fault) and, when checked against grids, ``grid_code``.

    Notes
    -----
    Every value PostgreSQL would refuse is an error here, so that a commit of a clean report
    cannot fail half-way: community codes that are not 12 digits, codes too long for their
    column, text holding NUL characters, floors and heights out of range
    (:mod:`geo.ingest.attributes`).
    """
    started = time.perf_counter()
    _require_columns(kind, frame)
    ids = frame["code"].to_numpy(dtype=object)
    features = Features(kind, np.asarray(frame.geometry.array, dtype=object).copy(), ids,
                        np.ones(len(frame), dtype=bool))
    findings = [Finding("warning", "read", None, str(note))
                for note in frame.attrs.get("warnings", [])]
    findings += check_geometries(features)
    findings += _check_ids(features, set(existing_codes or ()))
    findings += _check_names(kind, frame, features)
    findings += check_text(frame, features)
    out = frame.copy()
    if kind == "buildings":
        number_findings, out["floors"] = check_numbers(frame, features)
        findings += number_findings
    if extent is not None:
        findings += check_extent(features, extent)
    findings += _check_topology(kind, features, frame, parents, out)
    out[frame.geometry.name] = gpd.GeoSeries(features.geoms, index=frame.index, crs=frame.crs)
    report = Report(kind, out, findings, time.perf_counter() - started)
    logger.info("validated %d %s in %.2f s: %d errors, %d warnings", len(frame), kind,
                report.seconds, report.errors, report.warnings)
    return report


def _require_columns(kind: Kind, frame: gpd.GeoDataFrame) -> None:
    if kind not in KINDS:
        raise InvalidInput(f"Unknown layer kind {kind!r}.", field="kind",
                           fix=f"Use one of: {', '.join(KINDS)}.")
    missing = [c for c in COLUMNS[kind] if c not in frame.columns]
    if missing:
        raise InvalidInput(f"The {kind} frame lacks columns {', '.join(missing)}.", field="file",
                           fix="Pass the frame through geo.ingest.fields.normalise first.")


def _check_topology(kind: Kind, features: Features, frame: gpd.GeoDataFrame,
                    parents: gpd.GeoDataFrame | None, out: gpd.GeoDataFrame) -> list[Finding]:
    findings: list[Finding] = []
    if kind in ("communities", "grids"):
        findings += check_overlaps(features)
    if kind == "grids" and parents is not None:
        codes = frame["community_code"].to_numpy(dtype=object)
        findings += check_parents(features, codes, parents)
        findings += check_gaps(features, parents)
    if kind == "buildings" and parents is not None:
        building_findings, grid_codes = check_buildings(features, parents)
        findings += building_findings
        out["grid_code"] = grid_codes
    return findings


def _check_ids(features: Features, existing: set[str]) -> list[Finding]:
    """Every feature has a code, used once in the file and not yet in the database."""
    findings = []
    codes = pd.Series(features.ids)
    for i in np.flatnonzero(codes.isna().to_numpy()):
        findings.append(features.finding(
            "error", "id_missing", int(i), f"row {i + 1} has no code; every feature needs one "
            "(choose the column with --id-field)."))
    repeated = codes[codes.duplicated(keep=False) & codes.notna()]
    for code, rows in repeated.groupby(repeated, sort=False).groups.items():
        listed = ", ".join(str(r + 1) for r in rows[:_ROWS_NAMED])
        more = f" and {len(rows) - _ROWS_NAMED} more" if len(rows) > _ROWS_NAMED else ""
        findings.append(features.finding(
            "error", "id_duplicate", int(rows[0]), f"code {code} is used by {len(rows)} "
            f"features: rows {listed}{more}."))
    if existing:
        taken = np.flatnonzero(codes.isin(existing).to_numpy())
        for i in taken:
            findings.append(features.finding(
                "error", "id_exists", int(i), f"code {codes[i]} is already in the database."))
    return findings


def _check_names(kind: Kind, frame: gpd.GeoDataFrame, features: Features) -> list[Finding]:
    """Names are required; codes must fit their column (communities: 12-digit codes, as the
    table's CHECK demands)."""
    findings = []
    for i in np.flatnonzero(frame["name"].isna().to_numpy()):
        findings.append(features.finding(
            "error", "name_missing", int(i), f"{features.label(i)} has no name."))
    limit = CODE_LENGTHS[kind]
    lengths = frame["code"].str.len().to_numpy(dtype=float, na_value=0)
    for i in np.flatnonzero(lengths > limit):
        findings.append(features.finding(
            "error", "code_too_long", int(i), f"code {features.ids[i]} is longer than the "
            f"{limit} characters a {kind[:-1]} code may have."))
    if kind == "communities":
        odd = frame["code"].notna() & ~frame["code"].str.fullmatch(r"\d{12}", na=False)
        for i in np.flatnonzero(odd.to_numpy() & (lengths <= limit)):
            findings.append(features.finding(
                "error", "code_format", int(i), f"code {features.ids[i]} is not a 12-digit "
                "statistical code: a community code is 12 digits, e.g. 330109002041 (博学路社区); "
                "fix it in the file (or choose the column with --id-field)."))
    return findings
