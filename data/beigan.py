"""Deterministic synthetic demo dataset for Beigan street (北干街道), Xiaoshan, Hangzhou.

Community names and codes are real (``beigan_communities.csv``); every geometry, person,
phone number, company and address is synthetic. See ``data/README.md``.

>>> demo = generate()  # doctest: +SKIP
>>> len(demo.communities)  # doctest: +SKIP
40
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from numpy.typing import NDArray
from shapely.geometry import Polygon

from data.beigan_addresses import AddressBook, building_names, estate_gates
from data.beigan_buildings import estate_candidates, grid_candidates, select
from data.beigan_estates import EstatePlan, plan_estates
from data.beigan_geometry import (
    CENTER,
    GRID_SIZE,
    LocalFrame,
    make_extent,
    node_partition,
    partition,
    relax,
    sample_points,
)
from data.beigan_names import PhoneBook, estate_names, person_names, property_companies

logger = logging.getLogger(__name__)

STREET_CODE = "330109002"
STREET_NAME = "北干街道"
DISTRICT_CODE = "330109"
COMMUNITIES_CSV = Path(__file__).with_name("beigan_communities.csv")
DEFAULT_SEED = 2020
EXTENT_M2 = 12.0e6
GRID_AREA_M2 = 32_000.0
"""Typical grid size; a community gets 6-15 grids by its area."""
CRS = "EPSG:4326"


@dataclass(frozen=True)
class BeiganDemo:
    """The demo layers, all in EPSG:4326 with MultiPolygon geometries."""

    street: gpd.GeoDataFrame
    communities: gpd.GeoDataFrame
    grids: gpd.GeoDataFrame
    estates: gpd.GeoDataFrame
    buildings: gpd.GeoDataFrame


@dataclass(frozen=True)
class _Areas:
    """The exact partition: communities in CSV order, grids with their community index."""

    street: Polygon
    communities: list[Polygon]
    grids: list[Polygon]
    grid_community: NDArray[np.int64]


def read_communities() -> pd.DataFrame:
    """The 40 real communities of Beigan street: ``code``, ``name``, ``kind`` (社区 or 村)."""
    return pd.read_csv(COMMUNITIES_CSV, dtype=str)


def generate(seed: int = DEFAULT_SEED) -> BeiganDemo:
    """Generate the demo dataset; the same seed always gives identical output."""
    started = time.perf_counter()
    rng = np.random.default_rng(seed)
    frame = LocalFrame(*CENTER)
    reference = read_communities()
    village = int(np.flatnonzero(reference["kind"].to_numpy() == "村")[0])
    areas = _lay_out_areas(rng, frame, village)
    plans = _plan_estates(rng, areas, frame, village)
    chosen = _choose_buildings(rng, areas, plans, frame, village)
    phones = PhoneBook(rng)
    grid_codes = _grid_codes(reference, areas)
    estate_codes = _estate_codes(reference, plans)
    village_code = str(reference["code"].iloc[village])
    communities = _community_frame(reference, areas)
    grids = _grid_frame(rng, reference, areas, grid_codes, phones)
    estates = _estate_frame(rng, plans, estate_codes, village_code, phones, frame)
    table = _building_table(chosen, grid_codes, estate_codes)
    book = AddressBook.lay_out(
        rng,
        frame.to_metres(areas.street),
        village_code,
        village_name=str(reference["name"].iloc[village]).removesuffix("委会"),
    )
    gates = estate_gates(plans, estate_codes, book)
    table["name"], table["address"] = building_names(
        table, estates.set_index("code")["name"], gates, book
    )
    buildings = _building_frame(table, frame)
    street = gpd.GeoDataFrame(
        {"code": [STREET_CODE], "name": [STREET_NAME], "district_code": [DISTRICT_CODE]},
        geometry=_multipolygons([areas.street]),
        crs=CRS,
    )
    logger.info(
        "generated Beigan demo (seed %d): %d grids, %d estates, %d buildings in %.1f s",
        seed, len(grids), len(estates), len(buildings), time.perf_counter() - started,
    )  # fmt: skip
    return BeiganDemo(street, communities, grids, estates, buildings)


def _plan_estates(
    rng: np.random.Generator, areas: _Areas, frame: LocalFrame, village: int
) -> list[EstatePlan]:
    """Estates of every community, in community order."""
    communities_m = frame.to_metres(np.asarray(areas.communities, dtype=object))
    return [
        plan
        for c, region in enumerate(communities_m)
        for plan in plan_estates(rng, c, region, c == village)
    ]


def _choose_buildings(
    rng: np.random.Generator,
    areas: _Areas,
    plans: list[EstatePlan],
    frame: LocalFrame,
    village: int,
) -> pd.DataFrame:
    """About 8,000 footprints (in metres), a quarter of them high-rise."""
    grids_m = frame.to_metres(np.asarray(areas.grids, dtype=object))
    found = pd.concat(
        [
            estate_candidates(rng, plans, grids_m),
            grid_candidates(rng, grids_m, areas.grid_community, village, plans),
        ],
        ignore_index=True,
    )
    return select(rng, found, int(rng.integers(7850, 8151)), rng.uniform(0.24, 0.26))


def _lay_out_areas(rng: np.random.Generator, frame: LocalFrame, village: int) -> _Areas:
    """Cut the extent into 40 communities and each community into 6-15 grids, exactly."""
    extent = make_extent(rng, frame, EXTENT_M2)
    extent_m = frame.to_metres(extent)
    miny, maxy = extent_m.bounds[1], extent_m.bounds[3]

    def denser_south(xy: NDArray[np.float64]) -> NDArray[np.float64]:
        return 0.35 + 0.65 * (maxy - xy[:, 1]) / (maxy - miny)

    seeds = sample_points(rng, extent_m, 40, 320.0, accept=denser_south)
    cells = partition(relax(seeds, extent_m, rounds=1), extent, frame)
    cells = _order_as_reference(rng, cells, village)
    grids: list[Polygon] = []
    owners: list[int] = []
    for c, cell in enumerate(cells):
        cell_m = frame.to_metres(cell)
        count = int(np.clip(round(cell_m.area / GRID_AREA_M2), 6, 15))
        grid_seeds = sample_points(rng, cell_m, count, 0.5 * np.sqrt(cell_m.area / count))
        grids.extend(partition(relax(grid_seeds, cell_m, rounds=2), cell, frame))
        owners.extend([c] * count)
    grids = node_partition(grids)
    grid_community = np.array(owners)
    communities = [
        shapely.coverage_union_all(np.asarray(grids, dtype=object)[grid_community == c])
        for c in range(len(cells))
    ]
    if any(not isinstance(c, Polygon) for c in communities):
        raise RuntimeError("a community of the Beigan demo is not a single polygon")
    street = shapely.coverage_union_all(communities)
    return _Areas(street, communities, grids, grid_community)


def _order_as_reference(
    rng: np.random.Generator, cells: list[Polygon], village: int
) -> list[Polygon]:
    """Put the cells in CSV order: codes rise roughly south to north, the village furthest north.

    So the older communities (low codes) lie by the old town and 荣庄 by the fields; the real
    layout is not known here.
    """
    lat = np.array([c.centroid.y for c in cells])
    northmost = int(np.argmax(lat))
    others = [i for i in np.argsort(lat + rng.normal(0.0, 0.004, len(cells))) if i != northmost]
    order = [*others[:village], northmost, *others[village:]]
    return [cells[int(i)] for i in order]


def _reading_order(geoms: NDArray[np.object_] | list[Polygon]) -> NDArray[np.int64]:
    """Indices of the geometries from north to south, then west to east."""
    xy = shapely.get_coordinates(shapely.point_on_surface(np.asarray(geoms, dtype=object)))
    return np.lexsort((xy[:, 0], -np.round(xy[:, 1], 7)))


def _multipolygons(geoms: list[Polygon] | NDArray[np.object_]) -> NDArray[np.object_]:
    """One single-part MultiPolygon per polygon, exterior rings counter-clockwise."""
    polys = shapely.orient_polygons(np.asarray(geoms, dtype=object))
    return shapely.multipolygons(polys, indices=np.arange(len(polys)))


def _community_frame(reference: pd.DataFrame, areas: _Areas) -> gpd.GeoDataFrame:
    """The communities, in CSV (code) order."""
    return gpd.GeoDataFrame(
        reference[["code", "name", "kind"]].copy(),
        geometry=_multipolygons(areas.communities),
        crs=CRS,
    )


def _grid_codes(reference: pd.DataFrame, areas: _Areas) -> NDArray[np.object_]:
    """Code of each grid: its community's code and a serial in reading order (001 north-west)."""
    codes = np.empty(len(areas.grids), dtype=object)
    grids = np.asarray(areas.grids, dtype=object)
    for c, community_code in enumerate(reference["code"]):
        mine = np.flatnonzero(areas.grid_community == c)
        for serial, g in enumerate(mine[_reading_order(grids[mine])], start=1):
            codes[g] = f"{community_code}{serial:03d}"
    return codes


def _grid_frame(
    rng: np.random.Generator,
    reference: pd.DataFrame,
    areas: _Areas,
    codes: NDArray[np.object_],
    phones: PhoneBook,
) -> gpd.GeoDataFrame:
    """Grids in code order, each with its (synthetic) grid officer."""
    order = np.argsort(codes, kind="stable")
    community_name = dict(zip(reference["code"], reference["name"], strict=True))
    frame = pd.DataFrame(
        {
            "code": codes[order],
            "name": [f"{community_name[c[:12]]}第{int(c[12:])}网格" for c in codes[order]],
            "community_code": [c[:12] for c in codes[order]],
            "officer_name": person_names(rng, len(order)),
            "officer_phone": [phones.next() for _ in order],
        }
    )
    grids = np.asarray(areas.grids, dtype=object)[order]
    return gpd.GeoDataFrame(frame, geometry=_multipolygons(grids), crs=CRS)


def _estate_codes(reference: pd.DataFrame, plans: list[EstatePlan]) -> NDArray[np.object_]:
    """Code of each estate: its community's code, "E" and a serial in reading order."""
    codes = np.empty(len(plans), dtype=object)
    outlines = np.array([plan.outline for plan in plans], dtype=object)
    owners = np.array([plan.community for plan in plans])
    for c, community_code in enumerate(reference["code"]):
        mine = np.flatnonzero(owners == c)
        for serial, k in enumerate(mine[_reading_order(outlines[mine])], start=1):
            codes[k] = f"{community_code}E{serial:02d}"
    return codes


def _estate_frame(
    rng: np.random.Generator,
    plans: list[EstatePlan],
    codes: NDArray[np.object_],
    village_code: str,
    phones: PhoneBook,
    frame: LocalFrame,
) -> gpd.GeoDataFrame:
    """Estates in code order, with their (synthetic) property company and owners' committee."""
    order = np.argsort(codes, kind="stable")
    names = estate_names(rng, len(plans))
    companies = property_companies(rng, 12)
    company = rng.integers(0, len(companies), len(plans))
    has_committee = rng.uniform(size=len(plans)) < 0.75
    table = pd.DataFrame(
        {
            "code": codes[order],
            "name": names,
            "community_code": [c[:12] for c in codes[order]],
            "property_company": [companies[int(k)] for k in company],
            "property_contact": [phones.next() for _ in plans],
            "owners_committee": [
                f"{name}业主委员会" if ok and code[:12] != village_code else None
                for name, ok, code in zip(names, has_committee, codes[order], strict=True)
            ],
        }
    )
    outlines = frame.to_degrees(np.array([plans[k].outline for k in order], dtype=object))
    geometry = _multipolygons(shapely.set_precision(outlines, GRID_SIZE))
    return gpd.GeoDataFrame(table, geometry=geometry, crs=CRS)


def _building_table(
    chosen: pd.DataFrame, grid_codes: NDArray[np.object_], estate_codes: NDArray[np.object_]
) -> pd.DataFrame:
    """The chosen buildings with their codes, in code order (grid, estate, lattice position)."""
    table = chosen.assign(
        grid_code=grid_codes[chosen["grid"].to_numpy()],
        estate_code=[estate_codes[k] if k >= 0 else None for k in chosen["estate"]],
    )
    table["community_code"] = table["grid_code"].str[:12]
    table["estate_key"] = table["estate_code"].fillna("")
    table = table.sort_values(["grid_code", "estate_key", "row", "col"], kind="stable")
    table = table.reset_index(drop=True)
    table["code"] = [f"{STREET_CODE}B{k:05d}" for k in range(1, len(table) + 1)]
    return table


def _building_frame(table: pd.DataFrame, frame: LocalFrame) -> gpd.GeoDataFrame:
    """The buildings layer: footprints in degrees on the precision grid."""
    columns = ["code", "name", "address", "use", "height_m", "floors"]
    columns += ["grid_code", "community_code", "estate_code"]
    footprints = frame.to_degrees(table["footprint"].to_numpy())
    geometry = _multipolygons(shapely.set_precision(footprints, GRID_SIZE))
    attributes = table[columns].astype({"floors": "int64", "height_m": "float64"})
    attributes["estate_code"] = attributes["estate_code"].astype(object)
    return gpd.GeoDataFrame(attributes, geometry=geometry, crs=CRS)
