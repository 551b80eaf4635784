"""Bulk writes with PostgreSQL's binary COPY: GeoDataFrames streamed into a staging table."""

from __future__ import annotations

from collections.abc import Sequence

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from sqlalchemy import text
from sqlalchemy.orm import Session
from tqdm import tqdm

from geo.models import SRID

PROGRESS_FROM = 5_000  # rows; smaller loads finish before a bar would help


def stage(session: Session, name: str, frame: gpd.GeoDataFrame, columns: Sequence[str]) -> int:
    """Copy ``frame``'s ``columns`` (as text) and geometry into a new temp table ``name``.

    The table lives until the transaction ends (or the next stage of that name); callers cast its text columns as they move
    rows into the registry with INSERT ... SELECT. Geometries travel as EWKB, which PostGIS
    reads straight from binary COPY. Returns the number of rows copied.
    """
    quoted = [f'"{column}"' for column in columns]
    session.execute(text(f'DROP TABLE IF EXISTS pg_temp."{name}"'))
    session.execute(text(f'CREATE TEMP TABLE "{name}" ('
                         + "".join(f"{column} text, " for column in quoted)
                         + "geom geometry) ON COMMIT DROP"))
    geometries = shapely.to_wkb(shapely.set_srid(np.asarray(frame.geometry.values), SRID),
                                include_srid=True)
    values = [_text_values(frame[column]) for column in columns]
    cursor = session.connection().connection.driver_connection.cursor()  # type: ignore[union-attr]
    copy_sql = f'COPY "{name}" ({", ".join([*quoted, "geom"])}) FROM STDIN (FORMAT BINARY)'
    rows = zip(*values, geometries, strict=True)
    with cursor.copy(copy_sql) as copy, tqdm(total=len(frame), desc=f"copy {name}",
                                             unit="rows", disable=_quiet(len(frame))) as bar:
        copy.set_types([*(["text"] * len(columns)), "bytea"])
        for done, row in enumerate(rows, start=1):
            copy.write_row(row)
            if done % 10_000 == 0:
                bar.update(10_000)
        bar.update(len(frame) % 10_000)
    return len(frame)


def _quiet(rows: int) -> bool | None:
    """tqdm's ``disable``: None shows the bar only on a terminal."""
    return True if rows < PROGRESS_FROM else None


def _text_values(column: pd.Series) -> list[str | None]:
    return [None if pd.isna(value) else str(value) for value in column.tolist()]
