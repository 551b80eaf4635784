"""Attribute checks: text PostgreSQL can store, and building floors and heights that make sense.

Values the registry would refuse (a NUL character in text, ``floors`` that do not fit its
integer column or its CHECK ``floors > 0``) are error findings here, before anything is
written, so that a commit never stops half-way on a database error.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
from numpy.typing import NDArray

from geo.ingest.geometry import Features
from geo.ingest.report import Finding

FLOORS_RANGE = (1, 200)
"""Storeys a building may have. The tallest towers have about 160 (Burj Khalifa 163); a
value beyond 200 is a wrong column or a typo, and below 1 is no building."""
HEIGHT_MAX_M = 1000.0
"""Heights must be above 0 and below this (the tallest building is 828 m); a larger value is
usually centimetres or millimetres, or a wrong column."""
_WHOLE = 1e-6  # a float within this of a whole number of floors is that number (18.0000001)
_NUL = "\x00"


def check_text(frame: gpd.GeoDataFrame, features: Features) -> list[Finding]:
    """Errors for text values holding a NUL character, which PostgreSQL cannot store.

    GDAL cuts strings at a NUL when it reads a file, so these come from frames built in code
    (:func:`geo.ingest.commit.import_frame`) rather than from survey files.
    """
    findings: list[Finding] = []
    for column in frame.columns:
        dtype = frame[column].dtype
        if column == frame.geometry.name or not (pd.api.types.is_object_dtype(dtype)
                                                 or isinstance(dtype, pd.StringDtype)):
            continue
        values = frame[column].tolist()
        if _NUL not in "".join([v for v in values if isinstance(v, str)]):  # usual case, fast
            continue
        for i, value in enumerate(values):
            if isinstance(value, str) and _NUL in value:
                findings.append(features.finding(
                    "error", "text_nul", i, f"{_shown(features.label(i))} has a NUL character "
                    f"(\\x00) in its {column} ({value!r}), which PostgreSQL cannot store: "
                    "remove it from the file and import again."))
    return findings


def check_numbers(frame: gpd.GeoDataFrame,
                  features: Features) -> tuple[list[Finding], pd.Series]:
    """Check buildings' ``floors`` and ``height_m``; return the findings and floors as Int64.

    Parameters
    ----------
    frame : GeoDataFrame
        Buildings as :func:`geo.ingest.fields.normalise` returns them: ``floors`` and
        ``height_m`` numbers as read, missing where unknown.
    features : Features
        The same rows, for the findings' ids and places.

    Returns
    -------
    findings : list of Finding
        An error for each ``floors`` that is not a whole number from 1 to 200 and each
        ``height_m`` not above 0 and below 1000 m, naming the feature and the value.
    floors : Series of Int64
        The floors as integers; NA where unknown or at fault.
    """
    floors = _floats(frame["floors"])
    height = _floats(frame["height_m"])
    low, high = FLOORS_RANGE
    with np.errstate(invalid="ignore"):
        whole = np.round(floors)
        bad_floors = ~np.isnan(floors) & ((np.abs(floors - whole) > _WHOLE)
                                          | (whole < low) | (whole > high))
        bad_height = ~np.isnan(height) & ~((height > 0) & (height < HEIGHT_MAX_M))
    rows = np.flatnonzero(bad_floors)
    findings = features.findings("error", "floors_invalid", rows, [
        f"{features.label(i)} has floors {floors[i]:.15g}: floors must be a whole number of "
        f"storeys from {low} to {high}; fix the value (or choose the column with "
        "--floors-field)." for i in rows])
    rows = np.flatnonzero(bad_height)
    findings += features.findings("error", "height_invalid", rows, [
        f"{features.label(i)} has height {height[i]:.15g} m: a height must be above 0 and "
        f"below {HEIGHT_MAX_M:.0f} m; fix the value (is the column in metres? choose it with "
        "--height-field)." for i in rows])
    kept = np.where(np.isnan(floors) | bad_floors, np.nan, whole)
    return findings, pd.Series(pd.array(kept, dtype="Float64").astype("Int64"),
                               index=frame.index)


def _shown(label: str) -> str:
    return label.replace(_NUL, "\\x00")


def _floats(values: pd.Series) -> NDArray[np.float64]:
    return np.asarray(pd.to_numeric(values, errors="coerce").to_numpy(dtype=float,
                                                                      na_value=np.nan))
