"""Import 100,000 building footprints from a GeoPackage: ``gridmap import buildings --commit``
against ``ogr2ogr -f PostgreSQL`` and ``geopandas.read_file`` + ``to_postgis``, whole processes;
for information, also ``ogr2ogr -append`` into the same ``building`` table as ours.

Run ``python -m bench.import_buildings`` (``--features 100000 --runs 3``). It needs the private
cluster (``gridmap db up``); it recreates the scratch database ``gridmap_bench_import`` there,
with the Beigan demo loaded. Prints a table, then one JSON line (see bench/README.md).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import psycopg
import shapely
from numpy.typing import NDArray
from sqlalchemy import Engine, create_engine, make_url, text

from data.beigan import STREET_CODE, generate
from data.beigan_geometry import CENTER, LocalFrame
from geo.db import private_cluster
from geo.ingest.values import building_uses
from geo.registry import BUILDING_COLUMNS
from geo.settings import get_settings

BIN = Path(sys.executable).parent
SCRATCH_DB = "gridmap_bench_import"
TARGET = 0.667  # anchor / ours: "no slower than 1.5x ogr2ogr"
TARGET_GPD = 2.5  # "at least 2.5x faster than read_file + to_postgis"
STRADDLING_KEPT = 0.3  # of the footprints that cross a grid edge: "a few" straddle
USES = np.array(["住宅", "住宅", "住宅", "住宅", "商业", "办公", "商住", "residential", None],
                dtype=object)
# Each corner of a rectangle notched: 12 vertices, counter-clockwise; per vertex the signs of
# x and y and whether the notch's depth along x (a) and along y (b) is taken off.
_CORNER_NOTCHES = np.array([
    (-1, -1, 0, 1), (-1, -1, 1, 1), (-1, -1, 1, 0), (1, -1, 1, 0), (1, -1, 1, 1), (1, -1, 0, 1),
    (1, 1, 0, 1), (1, 1, 1, 1), (1, 1, 1, 0), (-1, 1, 1, 0), (-1, 1, 1, 1), (-1, 1, 0, 1)])
WARM_UP = 1_000  # features of the untimed first round
LAYER = "buildings"  # the GeoPackage's layer
LABELS = {"ours": "gridmap import buildings --commit", "ogr2ogr": "ogr2ogr -f PostgreSQL",
          "geopandas": "geopandas read_file + to_postgis",
          "same_table": "info: ogr2ogr -append into building",
          "floor": "PostgreSQL alone: COPY, per-row keys",
          "floor_keys_once": "PostgreSQL alone: COPY, keys once"}
INFORMATIONAL = ("same_table",)  # measured and printed, but neither anchor nor part of `ok`
GPD_SCRIPT = """
import sys
import geopandas
from sqlalchemy import create_engine
frame = geopandas.read_file(sys.argv[1])
frame.to_postgis("gpd_buildings", create_engine(sys.argv[2]), if_exists="replace")
"""


def progress(message: str) -> None:
    print(f"[import_buildings] {message}", file=sys.stderr, flush=True)


def footprints(n: int, grids: gpd.GeoDataFrame, seed: int) -> gpd.GeoDataFrame:
    """``n`` footprints of 12 vertices on a jittered lattice over the grids, each inside one
    grid but for a few straddling two; codes, names, uses, heights and floors as a survey
    file has them, in lattice (survey) order."""
    rng = np.random.default_rng(seed)
    local = LocalFrame(*CENTER)
    grids_m = local.to_metres(np.asarray(grids.geometry.array, dtype=object))
    spacing = math.sqrt(shapely.area(shapely.union_all(grids_m)) / n)
    while True:
        shapes = _lattice_shapes(rng, shapely.bounds(shapely.union_all(grids_m)), spacing)
        kept = _placed(rng, shapes, grids_m)
        if len(kept) >= n:
            break
        spacing *= 0.97
    chosen = np.sort(rng.choice(kept, n, replace=False))
    floors = rng.choice([2, 3, 6, 11, 18, 26, 33], n, p=[.3, .2, .2, .1, .1, .05, .05])
    return gpd.GeoDataFrame({
        "code": [f"{STREET_CODE}Z{i:06d}" for i in range(1, n + 1)],
        "name": [f"测试{i // 40 + 1}号小区{i % 40 + 1}幢" for i in range(n)],
        "use": rng.choice(USES, n),
        "height": np.round(floors * 3.0 + rng.uniform(0.3, 2.5, n), 1),
        "floors": floors.astype(np.int32),
    }, geometry=local.to_degrees(shapes[chosen]), crs="EPSG:4326")


def _lattice_shapes(rng: np.random.Generator, bounds: NDArray[np.float64],
                    spacing: float) -> NDArray[np.object_]:
    """A corner-notched rectangle, turned at random, on every jittered lattice point."""
    x0, y0, x1, y1 = bounds
    gx, gy = np.meshgrid(np.arange(x0, x1, spacing), np.arange(y0, y1, spacing))
    centre = np.column_stack([gx.ravel(), gy.ravel()])
    centre += rng.uniform(-0.12, 0.12, centre.shape) * spacing
    k = len(centre)
    half = np.column_stack([rng.uniform(0.28, 0.38, k), rng.uniform(0.2, 0.3, k)]) * spacing
    notch = rng.uniform(0.15, 0.3, (k, 4, 2)) * half[:, None, :]
    corner = np.repeat(np.arange(4), 3)
    signs, cut = _CORNER_NOTCHES[:, :2], _CORNER_NOTCHES[:, 2:]
    xy = signs * (half[:, None, :] - cut * notch[:, corner, :])
    angle = rng.uniform(0, math.pi, k)[:, None]
    cos, sin = np.cos(angle), np.sin(angle)
    turned = np.stack([xy[..., 0] * cos - xy[..., 1] * sin,
                       xy[..., 0] * sin + xy[..., 1] * cos], axis=-1)
    return shapely.polygons(shapely.linearrings(turned + centre[:, None, :]))


def _placed(rng: np.random.Generator, shapes: NDArray[np.object_],
            grids_m: NDArray[np.object_]) -> NDArray[np.int64]:
    """Shapes inside one grid, and some of those crossing a grid edge (not the street's)."""
    tree = shapely.STRtree(grids_m)
    inside = np.unique(tree.query(shapes, predicate="covered_by")[0])
    touched = np.bincount(tree.query(shapes, predicate="intersects")[0], minlength=len(shapes))
    crossing = np.setdiff1d(np.flatnonzero(touched >= 2), inside)
    crossing = crossing[shapely.covered_by(shapes[crossing], shapely.union_all(grids_m))]
    straddling = crossing[rng.random(len(crossing)) < STRADDLING_KEPT]
    return np.sort(np.concatenate([inside, straddling]))


@dataclass(frozen=True)
class Run:
    """One whole process: wall-clock seconds, peak resident memory, its output."""

    seconds: float
    peak_mb: float
    output: str


# Runs the command and reports its wall clock and peak RSS (wait4's ru_maxrss). A small
# launcher, because a child forked from this big process would count its pages as its peak.
LAUNCHER = """
import json, os, subprocess, sys, time
with open(sys.argv[1], "w") as out:
    started = time.perf_counter()
    child = subprocess.Popen(sys.argv[2:], stdout=out, stderr=subprocess.STDOUT)
    _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - started
print(json.dumps({"seconds": seconds, "maxrss_kb": usage.ru_maxrss,
                  "code": os.waitstatus_to_exitcode(status)}))
"""


def run_process(command: list[str], env: dict[str, str] | None = None) -> Run:
    """Run ``command`` to the end, timed from its start to its exit, with its peak memory."""
    with tempfile.NamedTemporaryFile("r", suffix=".log") as log:
        launched = subprocess.run([sys.executable, "-c", LAUNCHER, log.name, *command],
                                  env={**os.environ, **(env or {})}, capture_output=True,
                                  text=True, check=True)
        output = log.read()
    result = json.loads(launched.stdout)
    if result["code"] != 0:
        raise RuntimeError(f"{command[0]} failed ({result['code']}):\n{output[-3000:]}")
    return Run(result["seconds"], result["maxrss_kb"] / 1024, output)


@dataclass(frozen=True)
class Scratch:
    """The scratch database: its URL, an engine on it, and libpq's connection string."""

    url: str
    engine: Engine
    conninfo: str

    @property
    def gdal(self) -> str:
        return f"PG:{self.conninfo}"


def scratch_database() -> Scratch:
    """Recreate ``gridmap_bench_import`` on the private cluster, migrated, demo loaded."""
    cluster = private_cluster(get_settings())
    url = make_url(cluster.url(SCRATCH_DB))
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{SCRATCH_DB}" WITH (FORCE)'))
        connection.execute(text(f'CREATE DATABASE "{SCRATCH_DB}"'))
    admin.dispose()
    plain = url.set(drivername="postgresql").render_as_string(hide_password=False)
    for step in (["db", "migrate"], ["demo", "load"]):
        run_process([str(BIN / "gridmap"), *step], {"DATABASE_URL": plain})
    conninfo = f"host={cluster.socket_dir} port={cluster.port} user=postgres dbname={SCRATCH_DB}"
    return Scratch(plain, create_engine(url, isolation_level="AUTOCOMMIT"), conninfo)


def reset(scratch: Scratch, codes: list[str]) -> None:
    """Back to the starting state: the demo's buildings only, tables compact, checkpointed."""
    with scratch.engine.connect() as connection:
        connection.execute(text("DELETE FROM building WHERE street_code = :street "
                                "AND code = ANY(:codes)"), {"street": STREET_CODE,
                                                             "codes": codes})
        connection.execute(text("DROP TABLE IF EXISTS ogr_buildings, gpd_buildings"))
        connection.execute(text("VACUUM (FULL, ANALYZE) building"))
        connection.execute(text("CHECKPOINT"))


def same_table_sql() -> str:
    """The file's rows as ``building`` columns, in GDAL's SQLite dialect: our street code,
    ``height`` as ``height_m``, the geometry as ``footprint``, and each ``use`` of the file
    mapped as ours maps it (``geo.ingest.values.building_uses``), residential when unset;
    ``grid_id`` and ``estate_id`` are left NULL (ogr2ogr cannot place buildings)."""
    values = sorted({use for use in USES if use is not None})
    mapped = dict(zip(values, building_uses(pd.Series(values, dtype=object), []), strict=True))
    cases = " ".join(f"WHEN '{value}' THEN '{use}'" for value, use in mapped.items()
                     if use != "residential")
    return (f"SELECT '{STREET_CODE}' AS street_code, code, name, "
            f"CASE use {cases} ELSE 'residential' END AS use, height AS height_m, floors, "
            f"geom AS footprint FROM {LAYER}")


def commands(scratch: Scratch, path: Path) -> dict[str, list[str]]:
    """Each contender's command line (ours gets DATABASE_URL from the environment)."""
    return {
        "ours": [str(BIN / "gridmap"), "import", "buildings", str(path), "--commit"],
        "ogr2ogr": ["ogr2ogr", "-f", "PostgreSQL", scratch.gdal, str(path), "-nln",
                    "ogr_buildings", "-overwrite", "-lco", "GEOMETRY_NAME=footprint"],
        "geopandas": [sys.executable, "-c", GPD_SCRIPT, str(path),
                      scratch.url.replace("postgresql://", "postgresql+psycopg://", 1)],
        "same_table": ["ogr2ogr", "--config", "PG_USE_COPY", "YES", "-append", "-f",
                       "PostgreSQL", scratch.gdal, str(path), "-nln", "building",
                       "-nlt", "MULTIPOLYGON", "-dialect", "SQLite", "-sql", same_table_sql()],
    }


def python_env(scratch: Scratch, bytecode: Path | None) -> dict[str, str]:
    """The contenders' environment: the scratch database and, unless measuring cold, a
    bytecode cache, as an installed Python program has (PYTHONDONTWRITEBYTECODE may be set)."""
    env = {"DATABASE_URL": scratch.url}
    if bytecode is not None:
        env |= {"PYTHONPYCACHEPREFIX": str(bytecode), "PYTHONDONTWRITEBYTECODE": ""}
    return env


def measure(scratch: Scratch, path: Path, codes: list[str], runs: int, env: dict[str, str],
            label: str = "round") -> tuple[dict[str, list[Run]], bytes]:
    """``runs`` rounds of the contenders, interleaved, each from the starting state; also
    the rows our import wrote, as binary COPY data."""
    results: dict[str, list[Run]] = {}
    imported = b""
    for round_ in range(1, runs + 1):
        for name, command in commands(scratch, path).items():
            reset(scratch, codes)
            load = os.getloadavg()[0]
            run = run_process(command, env)
            results.setdefault(name, []).append(run)
            progress(f"{label} {round_} {name}: {run.seconds:.2f} s, {run.peak_mb:.0f} MB "
                     f"(load {load:.2f})")
            if name == "ours":
                imported = imported_rows(scratch, codes, run)
            elif name == "same_table":
                check_same_table(scratch, codes, run)
    return results, imported


def imported_rows(scratch: Scratch, codes: list[str], run: Run) -> bytes:
    """Check every footprint of the file is in ``building`` with a grid; return those rows
    (in code order) as binary COPY data."""
    columns = ", ".join(BUILDING_COLUMNS)
    with psycopg.connect(scratch.conninfo, autocommit=True) as connection:
        rows, with_grid = connection.execute(
            "SELECT count(*), count(grid_id) FROM building WHERE street_code = %s "
            "AND code = ANY(%s)", (STREET_CODE, codes)).fetchone() or (0, 0)
        if rows != len(codes) or with_grid != len(codes):
            raise RuntimeError(f"ours loaded {rows} rows, {with_grid} with a grid; expected "
                               f"{len(codes)}:\n{run.output[-3000:]}")
        with connection.cursor().copy(
                f"COPY (SELECT {columns} FROM building WHERE street_code = %s "
                f"AND code = ANY(%s) ORDER BY code) TO STDOUT (FORMAT BINARY)",
                (STREET_CODE, codes)) as copy:
            return b"".join(bytes(chunk) for chunk in copy)


def check_same_table(scratch: Scratch, codes: list[str], run: Run) -> None:
    """Check ``ogr2ogr -append`` put every footprint of the file into ``building`` (as a
    MultiPolygon, without a grid or an estate); then delete those rows again."""
    with psycopg.connect(scratch.conninfo, autocommit=True) as connection:
        rows, bare = connection.execute(
            "SELECT count(*), count(*) FILTER (WHERE grid_id IS NULL AND estate_id IS NULL "
            "AND ST_GeometryType(footprint) = 'ST_MultiPolygon') FROM building "
            "WHERE street_code = %s AND code = ANY(%s)", (STREET_CODE, codes)).fetchone() or (0, 0)
        if rows != len(codes) or bare != len(codes):
            raise RuntimeError(f"ogr2ogr -append loaded {rows} rows into building, {bare} as "
                               f"expected; expected {len(codes)}:\n{run.output[-3000:]}")
        connection.execute("DELETE FROM building WHERE street_code = %s AND code = ANY(%s)",
                           (STREET_CODE, codes))


def postgres_floor(scratch: Scratch, codes: list[str], data: bytes, runs: int, *,
                   keys_once: bool) -> list[float]:
    """Seconds PostgreSQL alone takes to COPY ``data`` (the rows our import wrote, encoded)
    into ``building`` as it stands, rolled back: the floor for any importer of this file.
    ``keys_once``: without the per-row foreign key triggers, the keys then checked once over
    the distinct values, as our import does when it may (``geo.bulk_keys``)."""
    columns = ", ".join(BUILDING_COLUMNS)
    seconds = []
    with psycopg.connect(scratch.conninfo, autocommit=True) as connection:
        for _ in range(runs):
            reset(scratch, codes)
            with connection.transaction(force_rollback=True), connection.cursor() as cursor:
                started = time.perf_counter()
                if keys_once:
                    cursor.execute("SET LOCAL session_replication_role = replica")
                with cursor.copy(f"COPY building ({columns}) FROM STDIN (FORMAT BINARY)") as copy:
                    copy.write(data)
                if keys_once:
                    cursor.execute("SET LOCAL session_replication_role = origin")
                    _check_keys_once(cursor, codes)
                seconds.append(time.perf_counter() - started)
    return seconds


def _check_keys_once(cursor: psycopg.Cursor[object], codes: list[str]) -> None:
    """The set-wise check of ``geo.bulk_keys``: each referenced row locked once."""
    for column, table, key in (("street_code", "street", "street_code"),
                               ("grid_id", "grid", "id"), ("estate_id", "estate", "id")):
        cursor.execute(f"SELECT count(*) FROM (SELECT 1 FROM {table} WHERE {key} IN "
                       f"(SELECT DISTINCT {column} FROM building WHERE code = ANY(%s)) "
                       f"FOR KEY SHARE) AS locked", (codes,))


def report(features: int, results: dict[str, list[Run]], floors: dict[str, list[float]],
           loads: list[float], bytecode: bool) -> dict[str, object]:
    """Print the table; return the JSON summary."""
    best = {name: min(r.seconds for r in runs) for name, runs in results.items()}
    peak = {name: round(max(r.peak_mb for r in runs), 1) for name, runs in results.items()}
    ratio, ratio_gpd = best["ogr2ogr"] / best["ours"], best["geopandas"] / best["ours"]
    ratio_same = best["same_table"] / best["ours"]
    contenders = {name: runs for name, runs in results.items() if name not in INFORMATIONAL}
    print(f"\nimport {features:,} building footprints from a GeoPackage into PostGIS: whole "
          f"processes, best of {len(results['ours'])}; load average {loads[0]:.2f} before, "
          f"{loads[1]:.2f} after, {os.cpu_count()} CPUs; Python bytecode "
          f"{'cached' if bytecode else 'compiled on every run'}")
    print(f"{'':<40}{'best s':>8}{'rows/s':>10}{'peak MB':>9}  runs (s)")
    for name, runs in results.items():
        print(f"{LABELS[name]:<40}{best[name]:>8.2f}{features / best[name]:>10,.0f}"
              f"{peak[name]:>9.0f}  " + ", ".join(f"{r.seconds:.2f}" for r in runs))
    for name, floor in floors.items():
        print(f"{LABELS[name]:<40}{min(floor):>8.2f}{features / min(floor):>10,.0f}"
              f"{'':>9}  " + ", ".join(f"{s:.2f}" for s in floor))
    print(f"ogr2ogr / ours = {ratio:.2f} (target >= {TARGET}); geopandas / ours = "
          f"{ratio_gpd:.2f} (target >= {TARGET_GPD})")
    print(f"info, not an anchor, not in ok: ogr2ogr -append into building / ours = "
          f"{ratio_same:.2f} (same table, no grid or estate placed, no validation)")
    print("ours: " + results["ours"][-1].output.strip().splitlines()[-1])
    return {"bench": "import_buildings", "ours": round(best["ours"], 3), "anchor": "ogr2ogr",
            "anchor_value": round(best["ogr2ogr"], 3), "unit": "s", "ratio": round(ratio, 3),
            "target": TARGET, "ok": bool(ratio >= TARGET and ratio_gpd >= TARGET_GPD),
            "anchor2": "geopandas.read_file+to_postgis",
            "anchor2_value": round(best["geopandas"], 3), "ratio_gpd": round(ratio_gpd, 3),
            "target_gpd": TARGET_GPD, "features": features,
            "peak_mb": {name: peak[name] for name in contenders},
            "runs": {name: [round(r.seconds, 3) for r in runs]
                     for name, runs in contenders.items()},
            "postgres_floor": round(min(floors["floor"]), 3),
            "postgres_floor_keys_once": round(min(floors["floor_keys_once"]), 3),
            "bytecode_cached": bytecode,
            "load": [round(v, 2) for v in loads],
            "ogr2ogr_same_table": round(best["same_table"], 3),
            "ratio_same_table": round(ratio_same, 3)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.import_buildings", description=__doc__)
    parser.add_argument("--features", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=2020)
    parser.add_argument("--cold-bytecode", action="store_true",
                        help="no bytecode cache: Python compiles every module on every run")
    args = parser.parse_args(argv)
    progress("recreating the scratch database with the Beigan demo")
    scratch = scratch_database()
    progress(f"generating {args.features:,} footprints")
    frame = footprints(args.features, generate().grids, args.seed)
    codes = frame["code"].tolist()
    with tempfile.TemporaryDirectory(prefix="gridmap-bench-") as folder:
        bytecode = None if args.cold_bytecode else Path(folder) / "pycache"
        env = python_env(scratch, bytecode)
        path, warm_up = Path(folder) / "buildings.gpkg", Path(folder) / "warm_up.gpkg"
        frame.to_file(path, layer=LAYER, driver="GPKG")
        frame.iloc[:WARM_UP].to_file(warm_up, layer=LAYER, driver="GPKG")
        progress(f"wrote {path.stat().st_size / 1e6:.1f} MB; warming up on {WARM_UP:,} "
                 "features (caches, bytecode), untimed")
        measure(scratch, warm_up, codes[:WARM_UP], 1, env, label="warm-up")
        before = os.getloadavg()[0]
        results, imported = measure(scratch, path, codes, args.runs, env)
    progress("timing PostgreSQL alone: COPY of the imported rows into building")
    floors = {name: postgres_floor(scratch, codes, imported, args.runs,
                                   keys_once=name == "floor_keys_once")
              for name in ("floor", "floor_keys_once")}
    summary = report(args.features, results, floors, [before, os.getloadavg()[0]],
                     bytecode is not None)
    scratch.engine.dispose()
    print(json.dumps(summary, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
