"""Bulk writes with PostgreSQL's binary COPY: GeoDataFrames into staging tables, row chunks
straight into a table."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from psycopg import Cursor
from psycopg.copy import QueuedLibpqWriter
from sqlalchemy import text
from sqlalchemy.orm import Session
from tqdm import tqdm

from geo.models import SRID

PROGRESS_FROM = 5_000  # rows; smaller loads finish before a bar would help


def stage(session: Session, name: str, frame: gpd.GeoDataFrame, columns: Sequence[str]) -> int:
    """Copy ``frame``'s ``columns`` (as text) and geometry into a new temp table ``name``.

    The table lives until the transaction ends (or the next stage of that name); callers
    cast its text columns as they move rows into the registry with INSERT ... SELECT.
    Geometries travel as EWKB, which PostGIS reads straight from binary COPY. Returns the
    number of rows copied.
    """
    quoted = [f'"{column}"' for column in columns]
    session.execute(text(f'DROP TABLE IF EXISTS pg_temp."{name}"'))
    session.execute(text(f'CREATE TEMP TABLE "{name}" ('
                         + "".join(f"{column} text, " for column in quoted)
                         + "geom geometry) ON COMMIT DROP"))
    values = [_text_values(frame[column]) for column in columns]
    rows = zip(*values, ewkb(np.asarray(frame.geometry.values)), strict=True)
    return copy_rows(session, name, [*columns, "geom"], [*(["text"] * len(columns)), "bytea"],
                     [list(rows)], total=len(frame))


def copy_rows(session: Session, table: str, columns: Sequence[str], types: Sequence[str],
              chunks: Iterable[Sequence[Sequence[object]]], *, total: int) -> int:
    """Binary COPY of ``chunks`` of rows into ``columns`` (of PostgreSQL ``types``) of ``table``.

    A worker thread sends the data, so PostgreSQL inserts one chunk while the caller computes
    the next. Geometries go as EWKB (see :func:`ewkb`) under type ``bytea``. Returns the
    number of rows copied.
    """
    cursor = _cursor(session)
    names = ", ".join(f'"{column}"' for column in columns)
    copied = 0
    with cursor.copy(f'COPY "{table}" ({names}) FROM STDIN (FORMAT BINARY)',
                     writer=QueuedLibpqWriter(cursor)) as copy, \
            tqdm(total=total, desc=f"copy {table}", unit="rows", disable=_quiet(total)) as bar:
        copy.set_types(list(types))
        for chunk in chunks:
            for row in chunk:
                copy.write_row(row)
            copied += len(chunk)
            bar.update(len(chunk))
    return copied


def ewkb(geometries: np.ndarray) -> list[bytes | None]:
    """Geometries as EWKB in EPSG:4326, what PostGIS reads from a binary COPY."""
    wkb = shapely.to_wkb(shapely.set_srid(geometries, SRID), include_srid=True)
    return wkb.tolist()


def _cursor(session: Session) -> Cursor[object]:
    """A psycopg cursor on the session's connection, inside its transaction."""
    return session.connection().connection.driver_connection.cursor()  # type: ignore[union-attr]


def _quiet(rows: int) -> bool | None:
    """tqdm's ``disable``: None shows the bar only on a terminal."""
    return True if rows < PROGRESS_FROM else None


def _text_values(column: pd.Series) -> list[str | None]:
    present = column.notna().to_numpy()
    return [str(value) if keep else None
            for value, keep in zip(column.tolist(), present.tolist(), strict=True)]
