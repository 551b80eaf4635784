"""Bulk point → grid lookup: GridIndex against geopandas.sjoin and a PostGIS UPDATE, one run.

Run ``python -m bench.locate_bulk`` (``--points 1000000 --grids 40000``; smaller for a smoke
run). Prints a table, then one JSON line (see bench/README.md).
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import resource
import sys
import time
from collections.abc import Callable
from typing import Any

import geopandas as gpd
import numpy as np
import shapely
from numpy.typing import NDArray

logger = logging.getLogger(__name__)

HANGZHOU = (119.9, 29.9, 120.6, 30.5)
TARGET = 20.0
THREADS = len(os.sched_getaffinity(0))


def voronoi_grids(n: int, bounds: tuple[float, float, float, float] = HANGZHOU, *,
                  vertices: float = 25.0, seed: int = 4) -> gpd.GeoDataFrame:
    """About ``n`` grids partitioning ``bounds`` exactly: a Voronoi of jittered seeds whose
    shared edges are split into wiggly pieces, identically on both sides, so that grids
    average about ``vertices`` coordinates. Codes ``G000001``... are in random order."""
    rng = np.random.default_rng(seed)
    west, south, east, north = bounds
    aspect = (east - west) * math.cos(math.radians((south + north) / 2)) / (north - south)
    cols = max(1, round(math.sqrt(n * aspect)))
    rows = max(1, round(n / cols))
    gx, gy = np.meshgrid((np.arange(cols) + 0.5) / cols, (np.arange(rows) + 0.5) / rows)
    jitter = rng.uniform(-0.4, 0.4, (2, gx.size))
    seeds = np.column_stack([west + (gx.ravel() + jitter[0] / cols) * (east - west),
                             south + (gy.ravel() + jitter[1] / rows) * (north - south)])
    frame = shapely.box(*bounds)
    cells = shapely.get_parts(shapely.voronoi_polygons(shapely.multipoints(seeds),
                                                       extend_to=frame))
    cells = shapely.intersection(cells, frame)
    # Round so that vertices two cells share are bitwise equal (clipping may differ in ulps).
    cells = shapely.transform(cells, lambda c: np.round(c, 9))
    polygons = _wiggle_edges(cells, vertices, rng)
    codes = np.array([f"G{i:06d}" for i in rng.permutation(polygons.size) + 1], dtype=object)
    return gpd.GeoDataFrame({"code": codes, "name": [f"网格 {c}" for c in codes]},
                            geometry=polygons, crs="EPSG:4326")


def _wiggle_edges(cells: NDArray[np.object_], vertices: float,
                  rng: np.random.Generator) -> NDArray[np.object_]:
    """Split every edge into pieces offset sideways, the same pieces for both neighbours."""
    _, coords, (ring_off, _) = shapely.to_ragged_array(cells)
    last = np.zeros(len(coords), bool)
    last[ring_off[1:] - 1] = True
    start = np.flatnonzero(~last)
    a, z = coords[start], coords[start + 1]
    forward = (a[:, 0] < z[:, 0]) | ((a[:, 0] == z[:, 0]) & (a[:, 1] < z[:, 1]))
    p, q = np.where(forward[:, None], a, z), np.where(forward[:, None], z, a)
    _, edge_id = np.unique(np.column_stack([p, q]), axis=0, return_inverse=True)
    length = np.hypot(*(q - p).T)
    pieces = np.maximum(1, np.ceil(length / (length.mean() * 6.5 / (vertices - 1)))).astype(int)
    offsets = rng.uniform(-0.12, 0.12, (edge_id.max() + 1, pieces.max()))
    ring_of_edge = np.searchsorted(ring_off, start, side="right") - 1
    out, out_ring = [], []
    for step in range(pieces.max()):
        has = step < pieces
        k = np.where(forward, step, pieces - step)[has]  # index from p along p→q
        t = (k / pieces[has])[:, None]
        normal = np.column_stack([-(q - p)[has, 1], (q - p)[has, 0]])
        inner = (k > 0) & (k < pieces[has])
        side = np.where(inner, offsets[edge_id[has], np.maximum(k - 1, 0)], 0.0)[:, None]
        side = side / pieces[has][:, None]
        out.append(np.column_stack([start[has], np.full(has.sum(), step),
                                    p[has] + t * (q - p)[has] + side * normal]))
        out_ring.append(ring_of_edge[has])
    table = np.concatenate(out)
    order = np.lexsort((table[:, 1], table[:, 0]))
    points, ring_ids = table[order, 2:], np.concatenate(out_ring)[order]
    rings = shapely.linearrings(points, indices=ring_ids)  # closes each ring
    return np.asarray(shapely.polygons(rings), dtype=object)


def progress(message: str) -> None:
    """Progress goes to stderr; the table and the JSON line to stdout."""
    print(f"[locate_bulk {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def best_of(runs: int, fn: Callable[[], Any]) -> tuple[float, Any]:
    """(shortest wall time in seconds, last result) over ``runs`` calls."""
    best, result = math.inf, None
    for _ in range(runs):
        started = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - started)
    return best, result


def random_points(n: int, bounds: tuple[float, float, float, float],
                  seed: int) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    rng = np.random.default_rng(seed)
    return rng.uniform(bounds[0], bounds[2], n), rng.uniform(bounds[1], bounds[3], n)


def measure_ours(grids: gpd.GeoDataFrame, lon: NDArray[np.float64],
                 lat: NDArray[np.float64]) -> dict[str, Any]:
    """Compile (or load from cache), build, warm up, then the best of 3 full lookups."""
    from geo.locate_index import GridIndex

    started = time.perf_counter()
    small = GridIndex.build(grids.iloc[:50])
    small.locate(lon[:1000], lat[:1000])
    compile_s = time.perf_counter() - started
    progress(f"numba kernels ready in {compile_s:.1f} s; building the index")
    build_s, index = best_of(1, lambda: GridIndex.build(grids))
    index.locate(lon[:10_000], lat[:10_000])
    progress(f"built in {build_s:.2f} s ({index.stats}); locating {lon.size:,} points x3")
    seconds, result = best_of(3, lambda: index.locate(lon, lat))
    one_thread, _ = best_of(3, lambda: index.locate(lon, lat, threads=1))
    return {"index": index, "result": result, "compile_s": compile_s, "build_s": build_s,
            "seconds": seconds, "one_thread_s": one_thread}


def memory_bound(index: Any, n: int, seed: int) -> float:
    """Points/s of the floor: one random gather from a raster of the index's size."""
    cells = index._raster.cells
    where = np.random.default_rng(seed).integers(0, cells.size, n)
    seconds, _ = best_of(3, lambda: cells[where])
    return n / seconds


def measure_sjoin(grids: gpd.GeoDataFrame, lon: NDArray[np.float64], lat: NDArray[np.float64],
                  ours: NDArray[np.object_]) -> dict[str, Any]:
    """geopandas.sjoin(points, grids, predicate="within"), the call alone; agreement on the
    points it puts in exactly one grid (``within`` leaves boundary points out)."""
    points = gpd.GeoDataFrame(geometry=gpd.points_from_xy(lon, lat), crs="EPSG:4326")
    progress(f"geopandas.sjoin on {lon.size:,} points")
    seconds, joined = best_of(2, lambda: gpd.sjoin(points, grids[["code", "geometry"]],
                                                   predicate="within"))
    hits = joined.index.value_counts()
    single = joined[joined.index.isin(hits.index[hits == 1])]
    agree = float(np.mean(single["code"].to_numpy() == ours[single.index.to_numpy()]))
    return {"seconds": seconds, "agreement": agree, "compared": len(single)}


BENCH_DB = "gridmap_bench"
POSTGIS_BUDGET_S = 120.0
POSTGIS_SUBSET = 100_000
UPDATE_SQL = ("UPDATE pts SET grid = g.code FROM grids g "
              "WHERE ST_Covers(g.geom, pts.geom) AND pts.id < :limit")


def scratch_engine() -> Any:
    """A fresh ``gridmap_bench`` database with PostGIS on gridmap's cluster (or DATABASE_URL)."""
    from sqlalchemy import create_engine, make_url, text

    from geo.db import database_url
    from geo.settings import Settings

    url = make_url(database_url(Settings()))
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{BENCH_DB}" WITH (FORCE)'))
        connection.execute(text(f'CREATE DATABASE "{BENCH_DB}"'))
    admin.dispose()
    engine = create_engine(url.set(database=BENCH_DB))
    with engine.begin() as connection:
        connection.execute(text("CREATE EXTENSION postgis"))
    return engine


def load_postgis(engine: Any, grids: gpd.GeoDataFrame, lon: NDArray[np.float64],
                 lat: NDArray[np.float64]) -> None:
    """Grids as hex EWKB and points as exact float8 by COPY; GiST on grids; ANALYZE."""
    from sqlalchemy import text

    geoms = shapely.to_wkb(shapely.set_srid(shapely.multipolygons(
        shapely.get_parts(grids.geometry.values),
        indices=shapely.get_parts(grids.geometry.values, return_index=True)[1]), 4326),
        hex=True, include_srid=True)
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE grids (code text PRIMARY KEY, "
                                "geom geometry(MultiPolygon, 4326) NOT NULL)"))
        connection.execute(text("CREATE UNLOGGED TABLE staged (id int, lon float8, lat float8)"))
        cursor = connection.connection.driver_connection.cursor()
        with cursor.copy("COPY grids (code, geom) FROM STDIN") as copy:
            for row in zip(grids["code"], geoms, strict=True):
                copy.write_row(row)
        with cursor.copy("COPY staged (id, lon, lat) FROM STDIN") as copy:
            for row in zip(range(lon.size), lon.tolist(), lat.tolist(), strict=True):
                copy.write_row(row)
        connection.execute(text("CREATE INDEX grids_geom ON grids USING gist (geom)"))
        connection.execute(text(
            "CREATE TABLE pts AS SELECT id, ST_SetSRID(ST_MakePoint(lon, lat), 4326)"
            "::geometry(Point, 4326) AS geom, NULL::text AS grid FROM staged ORDER BY id"))
        connection.execute(text("ALTER TABLE pts ADD PRIMARY KEY (id)"))
        connection.execute(text("DROP TABLE staged"))
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("VACUUM ANALYZE grids"))
        connection.execute(text("VACUUM ANALYZE pts"))


def timed_update(engine: Any, limit: int) -> float:
    from sqlalchemy import text

    with engine.begin() as connection:
        started = time.perf_counter()
        connection.execute(text(UPDATE_SQL), {"limit": limit})
        return time.perf_counter() - started


def measure_postgis(grids: gpd.GeoDataFrame, lon: NDArray[np.float64],
                    lat: NDArray[np.float64], ours: NDArray[np.object_],
                    outside: NDArray[np.bool_]) -> dict[str, Any]:
    """The PostGIS UPDATE ... FROM ... ST_Covers, on all points if that fits the budget."""
    from sqlalchemy import text

    progress(f"loading {len(grids):,} grids and {lon.size:,} points into {BENCH_DB}")
    engine = scratch_engine()
    try:
        load_postgis(engine, grids, lon, lat)
        probe = min(10_000, lon.size)
        estimate = timed_update(engine, probe) * lon.size / probe
        limit = lon.size if estimate <= POSTGIS_BUDGET_S else min(POSTGIS_SUBSET, lon.size)
        progress(f"UPDATE on {limit:,} points (all would take ~{estimate:.0f} s)")
        with engine.begin() as connection:
            connection.execute(text("UPDATE pts SET grid = NULL WHERE id < :limit"),
                               {"limit": limit})
        seconds = timed_update(engine, limit)
        with engine.connect() as connection:
            rows = connection.execute(text("SELECT grid FROM pts WHERE id < :limit ORDER BY id"),
                                      {"limit": limit}).scalars().all()
    finally:
        engine.dispose()
    theirs = np.array(rows, dtype=object)
    same = np.where(theirs == None, outside[:limit],  # noqa: E711
                    ~outside[:limit] & (ours[:limit] == theirs))
    return {"seconds": seconds, "points": limit, "agreement": float(np.mean(same)),
            "estimate_all_s": estimate}


def table(n: int, generated_s: float, ours: dict[str, Any], floor: float,
          sjoin: dict[str, Any], postgis: dict[str, Any] | None) -> list[tuple[str, str]]:
    """The rows of the printed table."""
    ours_rate, sjoin_rate = n / ours["seconds"], n / sjoin["seconds"]
    stats, result = ours["index"].stats, ours["result"]
    rows = [
        ("grids / points", f"{len(ours['index'].grids):,} Voronoi grids (generated in "
                           f"{generated_s:.1f} s), {n:,} random points"),
        ("numba compile or cache load", f"{ours['compile_s']:.2f} s (excluded)"),
        ("GridIndex.build", f"{ours['build_s']:.2f} s; {stats['cells']:,} cells of "
                            f"{stats['cell_m']} m, {100 * stats['impure_share']:.1f}% impure, "
                            f"{stats['bytes'] / 2**20:.0f} MiB"),
        ("ours: GridIndex.locate", f"{ours_rate / 1e6:7.2f} M points/s "
                                   f"({1e3 * ours['seconds']:.0f} ms, best of 3, "
                                   f"{THREADS} threads)"),
        ("ours on one thread", f"{n / ours['one_thread_s'] / 1e6:7.2f} M points/s"),
        ("floor: numpy gather", f"{floor / 1e6:7.2f} M points/s on one thread (one random read "
                                f"per point; ours on one thread is "
                                f"{floor * ours['one_thread_s'] / n:.1f}x slower)"),
        ("anchor: geopandas.sjoin", f"{sjoin_rate / 1e6:7.2f} M points/s (best of 2) -> ours "
                                    f"{ours_rate / sjoin_rate:.1f}x (target {TARGET:.0f}x)"),
    ]
    if postgis:
        pg_rate = postgis["points"] / postgis["seconds"]
        subset = "" if postgis["points"] == n else (
            f"; on a {postgis['points']:,}-point subset: all would take "
            f"~{postgis['estimate_all_s']:.0f} s")
        rows.append(("anchor: PostGIS UPDATE", f"{pg_rate / 1e6:7.3f} M points/s -> ours "
                                               f"{ours_rate / pg_rate:.0f}x{subset}"))
    return [*rows,
            ("agreement with sjoin", f"{100 * sjoin['agreement']:.4f}% of "
                                     f"{sjoin['compared']:,} points sjoin puts in exactly one "
                                     "grid"),
            ("agreement with PostGIS", "not measured" if not postgis else
             f"{100 * postgis['agreement']:.4f}% of {postgis['points']:,} points"),
            ("answers", f"{100 * result.on_boundary.mean():.2f}% on_boundary, "
                        f"{100 * result.outside_coverage.mean():.3f}% outside coverage"),
            ("peak memory", f"{peak_rss_mib():,.0f} MiB RSS (whole process, sjoin included)")]


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def summary(n: int, ours: dict[str, Any], floor: float, sjoin: dict[str, Any],
            postgis: dict[str, Any] | None) -> dict[str, Any]:
    """The JSON line: DESIGN.md's keys first, then the other figures."""
    ours_rate, sjoin_rate = n / ours["seconds"], n / sjoin["seconds"]
    pg_rate = postgis["points"] / postgis["seconds"] if postgis else None
    agreement_ok = sjoin["agreement"] == 1.0 and (postgis is None or postgis["agreement"] == 1.0)
    ratio = ours_rate / sjoin_rate
    return {"bench": "locate_bulk", "ours": round(ours_rate), "anchor": "geopandas.sjoin",
            "anchor_value": round(sjoin_rate), "unit": "points/s", "ratio": round(ratio, 2),
            "target": TARGET, "ok": bool(ratio >= TARGET and agreement_ok),
            "postgis_update": round(pg_rate) if pg_rate else None,
            "ratio_postgis": round(ours_rate / pg_rate, 1) if pg_rate else None,
            "agreement_sjoin": sjoin["agreement"],
            "agreement_postgis": postgis["agreement"] if postgis else None,
            "postgis_points": postgis["points"] if postgis else None,
            "build_s": round(ours["build_s"], 3), "compile_s": round(ours["compile_s"], 2),
            "memory_bound_points_per_s": round(floor),
            "ours_one_thread": round(n / ours["one_thread_s"]), "points": n,
            "grids": len(ours["index"].grids),
            "index_mib": round(ours["index"].stats["bytes"] / 2**20, 1),
            "peak_rss_mib": round(peak_rss_mib()), "threads": THREADS}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.locate_bulk", description=__doc__)
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--grids", type=int, default=40_000)
    parser.add_argument("--seed", type=int, default=2020)
    parser.add_argument("--no-postgis", action="store_true", help="skip the PostGIS anchor")
    args = parser.parse_args(argv)
    progress(f"generating {args.grids:,} Voronoi grids over Hangzhou")
    generated_s, grids = best_of(1, lambda: voronoi_grids(args.grids, seed=args.seed))
    lon, lat = random_points(args.points, HANGZHOU, args.seed + 1)
    ours = measure_ours(grids, lon, lat)
    codes = ours["index"].codes(ours["result"].grid)
    floor = memory_bound(ours["index"], args.points, args.seed + 2)
    sjoin = measure_sjoin(grids, lon, lat, codes)
    postgis = None if args.no_postgis else measure_postgis(
        grids, lon, lat, codes, ours["result"].outside_coverage)
    rows = table(args.points, generated_s, ours, floor, sjoin, postgis)
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
    print(json.dumps(summary(args.points, ours, floor, sjoin, postgis)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
