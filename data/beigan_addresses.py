"""Postal addresses for the Beigan demo buildings: roads, house numbers, estate blocks.

Road names are real Xiaoshan road names, but the straight lines they are given here, and so
every house number, are synthetic.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import shapely
from numpy.typing import NDArray
from shapely.geometry import Polygon

from data.beigan_estates import EstatePlan

logger = logging.getLogger(__name__)

ADDRESS_PREFIX = "杭州市萧山区北干街道"

# Real road names of Xiaoshan's urban core, laid out here north-south and east-west.
ROADS_NS = ("通惠北路", "市心北路", "工人路", "育才路", "博学路", "永久路", "兴议路", "晨晖路")
ROADS_EW = (
    *("人民路", "萧然东路", "山阴路", "金城路"),
    *("北干山南路", "金惠路", "建设一路", "建设二路"),
)
NUMBER_SPACING_M = 15.0
"""Road frontage per house number."""


@dataclass(frozen=True)
class Road:
    """A synthetic straight road: ``offset + slope * t`` across the street, ``t`` along it."""

    name: str
    north_south: bool
    offset: float
    slope: float

    def side_and_position(self, xy: NDArray[np.float64]) -> tuple[NDArray, NDArray]:
        """Signed distance from the road and position along it, for points in metres."""
        across, along = (xy[:, 0], xy[:, 1]) if self.north_south else (xy[:, 1], xy[:, 0])
        signed = (across - (self.offset + self.slope * along)) / np.hypot(1.0, self.slope)
        return signed, along


def lay_out_roads(rng: np.random.Generator, extent_m: Polygon) -> list[Road]:
    """Lay the named roads across the extent as evenly spread, slightly skewed lines."""
    minx, miny, maxx, maxy = extent_m.bounds
    roads = []
    for names, north_south, (low, high) in (
        (ROADS_NS, True, (minx, maxx)),
        (ROADS_EW, False, (miny, maxy)),
    ):
        step = (high - low) / len(names)
        for k, name in enumerate(names):
            offset = low + (k + 0.5 + rng.uniform(-0.2, 0.2)) * step
            roads.append(Road(name, north_south, float(offset), float(rng.uniform(-0.08, 0.08))))
    return roads


def house_numbers(
    roads: list[Road],
    xy: NDArray[np.float64],
    origin: tuple[float, float],
    taken: dict[tuple[int, int], set[int]],
) -> list[tuple[str, int]]:
    """Address each point on its nearest road: odd numbers on one side, even on the other.

    Numbers grow along the road from ``origin`` (the south-west corner); points that would
    share a number take the next free one on their side, in input order. ``taken`` holds the
    numbers given so far, per road and side, and is updated.
    """
    sides, positions = zip(*(road.side_and_position(xy) for road in roads), strict=True)
    distance = np.abs(np.array(sides))
    nearest = np.argmin(distance, axis=0)
    result: list[tuple[str, int]] = []
    for k, r in enumerate(nearest):
        road = roads[int(r)]
        start = origin[1] if road.north_south else origin[0]
        parity = 1 if sides[r][k] < 0 else 2
        number = 2 * int((positions[r][k] - start) // NUMBER_SPACING_M) + parity
        used = taken.setdefault((int(r), parity), set())
        while number in used:
            number += 2
        used.add(number)
        result.append((road.name, number))
    return result


@dataclass(frozen=True)
class AddressBook:
    """What building addresses are made of; ``taken`` keeps house numbers unique per road."""

    roads: list[Road]
    origin: tuple[float, float]
    village_code: str
    village_name: str
    taken: dict[tuple[int, int], set[int]] = field(default_factory=dict)

    @classmethod
    def lay_out(
        cls, rng: np.random.Generator, street: Polygon, village_code: str, village_name: str
    ) -> AddressBook:
        """Lay the roads across the street (in metres) and start numbering from its corner."""
        origin = (street.bounds[0], street.bounds[1])
        return cls(lay_out_roads(rng, street), origin, village_code, village_name)


def estate_gates(
    plans: list[EstatePlan], estate_codes: NDArray[np.object_], book: AddressBook
) -> dict[str, tuple[str, int]]:
    """Each estate's road address (its gate), taken before any building's number."""
    order = np.argsort(estate_codes, kind="stable")
    centres = shapely.get_coordinates([plans[k].outline.centroid for k in order])
    numbers = house_numbers(book.roads, centres, book.origin, taken=book.taken)
    return {estate_codes[k]: number for k, number in zip(order, numbers, strict=True)}


def building_names(
    table: pd.DataFrame,
    estate_names: pd.Series,
    gates: dict[str, tuple[str, int]],
    book: AddressBook,
) -> tuple[list[str], list[str]]:
    """Names and postal addresses: estate blocks (幢), village houses, or road numbers."""
    in_estate = table["estate_code"].notna().to_numpy()
    in_village = (table["community_code"] == book.village_code).to_numpy() & ~in_estate
    on_road = ~in_estate & ~in_village
    centres = shapely.get_coordinates(shapely.centroid(table["footprint"].to_numpy()[on_road]))
    numbers = iter(house_numbers(book.roads, centres, book.origin, taken=book.taken))
    by_block = table.sort_values(["estate_key", "grid_code", "row", "col"], kind="stable")
    blocks = by_block.groupby("estate_key").cumcount() + 1
    houses = table[in_village].groupby("grid_code").cumcount() + 1
    names, addresses = [], []
    for k, row in enumerate(table.itertuples()):
        if in_estate[k]:
            road, number = gates[row.estate_code]
            name = f"{estate_names[row.estate_code]}{blocks[k]}幢"
            addresses.append(f"{ADDRESS_PREFIX}{road}{number}号{name}")
        else:
            if in_village[k]:
                name = f"{book.village_name}{int(row.grid_code[12:])}组{houses[k]}号"
            else:
                road, number = next(numbers)
                name = f"{road}{number}号"
            addresses.append(f"{ADDRESS_PREFIX}{name}")
        names.append(name)
    return names, addresses
