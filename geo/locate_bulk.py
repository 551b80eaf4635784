"""Geolocate a CSV or Parquet file of points, chunk by chunk, with the in-memory index.

Each chunk is answered by the current ``Locator``; between chunks the process checks the
registry's version and rebuilds when boundaries or buildings changed, so a long run notices
an activated generation. Rows whose coordinates cannot be used get an ``error`` and no areas;
nothing is dropped, by the per-row rules of ``geo.locate.rows_to_lonlat`` (the HTTP batch's
too).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy.orm import Session
from tqdm import tqdm

from geo.crs import parse_crs
from geo.errors import InvalidInput
from geo.locate import rows_to_lonlat
from geo.locator import Locator, LocatorCache
from geo.settings import Settings

logger = logging.getLogger(__name__)

CHUNK_ROWS = 250_000
FORMATS = (".csv", ".parquet")


def locate_file(sessions: Callable[[], Session], settings: Settings, source: Path, out: Path,
                *, lon_col: str = "lon", lat_col: str = "lat", crs: str = "wgs84",
                chunk_rows: int = CHUNK_ROWS) -> int:
    """Write ``source``'s rows to ``out`` with where each point lies; returns the row count."""
    for path, option in ((source, "file"), (out, "out")):
        if path.suffix.lower() not in FORMATS:
            raise InvalidInput(f"{path.name}: only .csv and .parquet are supported",
                               field=option, fix="convert the file to CSV or Parquet")
    input_crs = parse_crs(crs)
    cache = LocatorCache(settings, refresh_seconds=0.0)
    cache.refresh(sessions)
    writer = _Writer(out)
    total = 0
    with tqdm(desc=f"locate {source.name}", unit="rows", disable=None) as bar:
        for chunk in _chunks(source, chunk_rows):
            _require_columns(chunk, lon_col, lat_col)
            locator = cache.refresh(sessions)
            writer.write(pd.concat([chunk.reset_index(drop=True), locate_frame(
                locator, chunk[lon_col], chunk[lat_col], input_crs.name)], axis=1))
            total += len(chunk)
            bar.update(len(chunk))
    writer.close()
    logger.info("located %d rows of %s into %s", total, source, out)
    return total


def locate_frame(locator: Locator, x: pd.Series, y: pd.Series, crs: str) -> pd.DataFrame:
    """Area columns for each (x, y) in ``crs``; unusable rows get ``error`` instead."""
    xs = pd.to_numeric(x, errors="coerce").to_numpy(dtype=np.float64)
    ys = pd.to_numeric(y, errors="coerce").to_numpy(dtype=np.float64)
    lon, lat, error = rows_to_lonlat(xs, ys, crs)
    columns = _empty_columns(len(xs))
    rows = np.flatnonzero(~error.astype(bool))
    if rows.size:
        _fill(columns, rows, locator, lon[rows], lat[rows])
    columns["error"] = error
    text = {name: "string" for name in [*TEXT_COLUMNS, "error"]}
    return pd.DataFrame(columns).astype({**text, "generation": "Int64"})


def _fill(columns: dict[str, np.ndarray], rows: np.ndarray, locator: Locator, lon: np.ndarray,
          lat: np.ndarray) -> None:
    found = locator.grids.locate(lon, lat)
    hit = found.grid >= 0
    grid = found.grid[hit]
    frame = locator.grids.grids
    for column, source in (("street_code", "street_code"), ("community_code", "community_code"),
                           ("community_name", "community_name"), ("grid_code", "code"),
                           ("grid_name", "name"), ("generation", "generation")):
        columns[column][rows[hit]] = frame[source].to_numpy(dtype=object)[grid]
    columns["on_boundary"][rows] = found.on_boundary
    columns["outside_coverage"][rows] = found.outside_coverage
    columns["distance_m"][rows] = np.round(found.distance_m, 2)
    building, distance = locator.buildings.locate(lon, lat)
    near = building >= 0
    codes = locator.buildings.frame["code"].to_numpy(dtype=object)
    columns["building_code"][rows[near]] = codes[building[near]]
    columns["building_distance_m"][rows[near]] = np.round(distance[near], 2)


TEXT_COLUMNS = ["street_code", "community_code", "community_name", "grid_code", "grid_name",
                "building_code"]


def _empty_columns(n: int) -> dict[str, np.ndarray]:
    columns = {name: np.full(n, None, dtype=object) for name in [*TEXT_COLUMNS, "generation"]}
    columns["on_boundary"] = np.zeros(n, dtype=bool)
    columns["outside_coverage"] = np.zeros(n, dtype=bool)
    columns["distance_m"] = np.full(n, np.nan)
    columns["building_distance_m"] = np.full(n, np.nan)
    return columns


def _chunks(source: Path, rows: int) -> Iterator[pd.DataFrame]:
    if not source.exists():
        raise InvalidInput(f"{source} does not exist", field="file", fix="check the path")
    if source.suffix.lower() == ".parquet":
        for batch in pq.ParquetFile(source).iter_batches(batch_size=rows):
            yield batch.to_pandas()
    else:
        yield from pd.read_csv(source, chunksize=rows, dtype=str, keep_default_na=False)


def _require_columns(chunk: pd.DataFrame, lon_col: str, lat_col: str) -> None:
    missing = [c for c in (lon_col, lat_col) if c not in chunk.columns]
    if missing:
        raise InvalidInput(f"no column {', '.join(missing)} (columns: {', '.join(chunk.columns)})",
                           field="lon-col" if lon_col in missing else "lat-col",
                           fix="name the columns with --lon-col and --lat-col")


class _Writer:
    """Appends frames to a CSV or a Parquet file."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self._parquet: pq.ParquetWriter | None = None
        self._started = False

    def write(self, frame: pd.DataFrame) -> None:
        if self.out.suffix.lower() == ".parquet":
            table = pa.Table.from_pandas(frame, preserve_index=False)
            if self._parquet is None:
                self._parquet = pq.ParquetWriter(self.out, table.schema)
            self._parquet.write_table(table.cast(self._parquet.schema))
        else:
            frame.to_csv(self.out, mode="a" if self._started else "w", header=not self._started,
                         index=False)
        self._started = True

    def close(self) -> None:
        if self._parquet is not None:
            self._parquet.close()
        elif not self._started:
            pd.DataFrame().to_csv(self.out, index=False)
