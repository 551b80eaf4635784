"""Exact planar partitions for the Beigan demo: extent, communities and grids.

Everything shared between two areas is built in lon/lat degrees on a fixed precision grid of
``GRID_SIZE`` degrees (about 1 cm), and the final grid boundaries are noded together, so that
every shared edge carries identical vertices on both sides and ``covers``/``ST_CoveredBy``
hold exactly.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import shapely
import shapely.affinity
from numpy.typing import NDArray
from shapely.geometry import Polygon
from shapely.geometry.base import BaseGeometry

logger = logging.getLogger(__name__)

Geometries = TypeVar("Geometries", BaseGeometry, NDArray[np.object_])

GRID_SIZE = 1e-7
"""Precision of all partition coordinates, in degrees (about 1 cm)."""

CENTER = (120.27, 30.18)
"""Approximate centre of Beigan street (lon, lat), just north of Xiaoshan's centre."""


@dataclass(frozen=True)
class LocalFrame:
    """Affine local metric frame (metres east/north of an origin) around a lon/lat point.

    Affine maps keep containment exact, so a footprint kept a few metres inside a polygon in
    metres is still inside it in degrees.
    """

    lon0: float
    lat0: float

    @property
    def metres_per_degree(self) -> tuple[float, float]:
        """Length of one degree of longitude and latitude at the origin, in metres."""
        phi = np.radians(self.lat0)
        per_lon = 111412.84 * np.cos(phi) - 93.5 * np.cos(3 * phi) + 0.118 * np.cos(5 * phi)
        per_lat = 111132.954 - 559.822 * np.cos(2 * phi) + 1.175 * np.cos(4 * phi)
        return float(per_lon), float(per_lat)

    def to_degrees(self, geom: Geometries) -> Geometries:
        """Map geometries from local metres to lon/lat degrees."""
        kx, ky = self.metres_per_degree
        offset = np.array([self.lon0, self.lat0])
        scale = np.array([kx, ky])
        return shapely.transform(geom, lambda xy: xy / scale + offset)

    def to_metres(self, geom: Geometries) -> Geometries:
        """Map geometries from lon/lat degrees to local metres."""
        kx, ky = self.metres_per_degree
        offset = np.array([self.lon0, self.lat0])
        scale = np.array([kx, ky])
        return shapely.transform(geom, lambda xy: (xy - offset) * scale)


def largest_polygon(geom: BaseGeometry) -> Polygon:
    """Return the polygon part of largest area (empty polygon if there is none)."""
    parts = [p for p in shapely.get_parts(geom) if isinstance(p, Polygon) and not p.is_empty]
    if not parts:
        return Polygon()
    return max(parts, key=lambda p: p.area)


def polygon_parts(geom: BaseGeometry) -> list[Polygon]:
    """Polygonal parts of a geometry; drops the lines and points overlay may return."""
    return [p for p in shapely.get_parts(geom) if isinstance(p, Polygon) and not p.is_empty]


def make_extent(rng: np.random.Generator, frame: LocalFrame, area_m2: float) -> Polygon:
    """Draw an irregular, star-shaped street outline of the given area, in degrees."""
    n = 22
    step = 2 * np.pi / n
    theta = np.arange(n) * step + rng.uniform(-0.3, 0.3, n) * step
    phase = rng.uniform(0, 2 * np.pi, 3)
    radius = (
        1.0
        + 0.09 * np.sin(2 * theta + phase[0])
        + 0.06 * np.sin(3 * theta + phase[1])
        + 0.04 * np.sin(5 * theta + phase[2])
        + rng.uniform(-0.03, 0.03, n)
    )
    # Taller than wide: the street stretches north from the old town towards the river plain.
    outline = Polygon(np.column_stack([radius * np.cos(theta), 1.3 * radius * np.sin(theta)]))
    outline = shapely.affinity.scale(outline, *(2 * [np.sqrt(area_m2 / outline.area)]))
    outline = shapely.affinity.translate(outline, -outline.centroid.x, -outline.centroid.y)
    return shapely.set_precision(frame.to_degrees(outline), GRID_SIZE)


def sample_points(
    rng: np.random.Generator,
    region: Polygon,
    count: int,
    min_dist: float,
    accept: Callable[[NDArray[np.float64]], NDArray[np.float64]] | None = None,
) -> NDArray[np.float64]:
    """Draw ``count`` points inside ``region``, at least ``min_dist`` apart where possible.

    ``accept`` maps points to an acceptance probability, to vary the density.
    """
    minx, miny, maxx, maxy = region.bounds
    shapely.prepare(region)
    points: list[NDArray[np.float64]] = []
    tries = 0
    while len(points) < count:
        batch = rng.uniform((minx, miny), (maxx, maxy), size=(64, 2))
        keep = shapely.contains_xy(region, batch[:, 0], batch[:, 1])
        if accept is not None:
            keep &= rng.uniform(size=64) < accept(batch)
        for point in batch[keep]:
            if all(np.hypot(*(point - q)) >= min_dist for q in points):
                points.append(point)
                if len(points) == count:
                    break
        tries += 1
        if tries % 50 == 0:
            min_dist *= 0.9  # crowded region: relax the spacing rather than loop forever
    return np.array(points)


def voronoi_cells(seeds: NDArray[np.float64], region: Polygon) -> NDArray[np.object_]:
    """Voronoi cells of ``seeds`` (in seed order), cut to ``region``, all in metres."""
    envelope = shapely.buffer(shapely.envelope(region), 1000.0)
    cells = shapely.voronoi_polygons(shapely.multipoints(seeds), extend_to=envelope, ordered=True)
    return shapely.intersection(shapely.get_parts(cells), region)


def relax(seeds: NDArray[np.float64], region: Polygon, rounds: int) -> NDArray[np.float64]:
    """Move seeds towards their cell centroids (Lloyd), to avoid slivers."""
    for _ in range(rounds):
        cells = voronoi_cells(seeds, region)
        centres = shapely.get_coordinates(shapely.point_on_surface(cells))
        centroids = shapely.get_coordinates(shapely.centroid(cells))
        inside = shapely.contains_xy(region, centroids[:, 0], centroids[:, 1])
        seeds = np.where(inside[:, None], centroids, centres)
    return seeds


def partition(
    seeds_m: NDArray[np.float64], region_deg: Polygon, frame: LocalFrame
) -> list[Polygon]:
    """Cut ``region_deg`` into one single polygon per seed, on the fixed precision grid."""
    region_m = frame.to_metres(region_deg)
    cells_m = voronoi_cells(seeds_m, region_m)
    cells = shapely.intersection(frame.to_degrees(cells_m), region_deg, grid_size=GRID_SIZE)
    return merge_fragments([shapely.multipolygons(polygon_parts(c)) for c in cells])


def merge_fragments(cells: Sequence[BaseGeometry]) -> list[Polygon]:
    """Give every detached part of a cell to the neighbour it shares most boundary with."""
    cells = list(cells)
    for _ in range(10):
        multi = [i for i, c in enumerate(cells) if len(polygon_parts(c)) > 1]
        if not multi:
            break
        for i in multi:
            parts = sorted(polygon_parts(cells[i]), key=lambda p: -p.area)
            cells[i] = parts[0]
            for fragment in parts[1:]:
                shared = shapely.length(
                    shapely.intersection(fragment.boundary, shapely.boundary(cells))
                )
                shared[i] = -1.0
                j = int(np.argmax(shared))
                cells[j] = shapely.union(cells[j], fragment, grid_size=GRID_SIZE)
    return [largest_polygon(c) if len(polygon_parts(c)) == 1 else c for c in cells]


def node_partition(cells: Sequence[Polygon]) -> list[Polygon]:
    """Rebuild a partition from its noded boundaries, so shared edges match vertex for vertex.

    All boundaries are noded together on the precision grid and polygonized; each face goes
    to the input cell it overlaps most, and each cell becomes the coverage union of its faces.
    """
    cells_arr = np.asarray(cells, dtype=object)
    linework = shapely.union_all(shapely.boundary(cells_arr), grid_size=GRID_SIZE)
    faces = shapely.get_parts(shapely.polygonize(shapely.get_parts(linework)))
    owner = _face_owners(faces, cells_arr)
    for _ in range(10):
        rebuilt = [shapely.coverage_union_all(faces[owner == i]) for i in range(len(cells))]
        if any(c.is_empty for c in rebuilt):
            raise RuntimeError("a cell of the partition lost all its faces in noding")
        multi = [i for i, c in enumerate(rebuilt) if shapely.get_num_geometries(c) > 1]
        if not multi:
            logger.debug("noded %d cells from %d faces", len(cells), len(faces))
            return [largest_polygon(c) for c in rebuilt]
        for i in multi:
            _reassign_detached_faces(i, rebuilt, faces, owner)
    raise RuntimeError("could not make every cell of the partition a single polygon")


def _face_owners(faces: NDArray[np.object_], cells: NDArray[np.object_]) -> NDArray[np.int64]:
    """Index of the cell each face overlaps most (ties go to the lower index)."""
    face_idx, cell_idx = shapely.STRtree(cells).query(faces, predicate="intersects")
    overlap = shapely.area(shapely.intersection(faces[face_idx], cells[cell_idx]))
    order = np.lexsort((cell_idx, -overlap, face_idx))
    first = np.unique(face_idx[order], return_index=True)[1]
    owner = np.full(len(faces), -1, dtype=np.int64)
    owner[face_idx[order][first]] = cell_idx[order][first]
    if (owner < 0).any():
        raise RuntimeError("a face of the noded partition lies outside every cell")
    return owner


def _reassign_detached_faces(
    i: int, rebuilt: list[BaseGeometry], faces: NDArray[np.object_], owner: NDArray[np.int64]
) -> None:
    """Hand the faces of cell ``i``'s minor parts to the neighbour sharing most boundary."""
    parts = sorted(polygon_parts(rebuilt[i]), key=lambda p: -p.area)
    for part in parts[1:]:
        shared = shapely.length(shapely.intersection(part.boundary, shapely.boundary(rebuilt)))
        shared[i] = -1.0
        mine = np.flatnonzero(owner == i)
        owner[mine[shapely.covers(part, faces[mine])]] = int(np.argmax(shared))
