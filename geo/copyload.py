"""Bulk writes with PostgreSQL COPY: GeoDataFrames streamed into a staging table."""

from __future__ import annotations

from collections.abc import Sequence

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.models import SRID


def stage(session: Session, name: str, frame: gpd.GeoDataFrame, columns: Sequence[str]) -> int:
    """Copy ``frame``'s ``columns`` (as text) and geometry into a new temp table ``name``.

    The table lives until the transaction ends; callers cast its text columns as they move
    rows into the registry with INSERT ... SELECT. Returns the number of rows copied.
    """
    quoted = [f'"{column}"' for column in columns]
    session.execute(text(f'CREATE TEMP TABLE "{name}" ('
                         + "".join(f"{column} text, " for column in quoted)
                         + "geom geometry) ON COMMIT DROP"))
    geometries = shapely.to_wkb(shapely.set_srid(np.asarray(frame.geometry.values), SRID),
                                hex=True, include_srid=True)
    values = [_text_values(frame[column]) for column in columns]
    cursor = session.connection().connection.driver_connection.cursor()  # type: ignore[union-attr]
    with cursor.copy(f'COPY "{name}" ({", ".join([*quoted, "geom"])}) FROM STDIN') as copy:
        for row in zip(*values, geometries, strict=True):
            copy.write_row(row)
    return len(frame)


def _text_values(column: pd.Series) -> list[str | None]:
    return [None if pd.isna(value) else str(value) for value in column.tolist()]
