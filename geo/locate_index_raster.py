"""Numba kernels that build the raster of :class:`geo.locate_index.GridIndex`.

Steps: per grid and raster row, the edges near that row (``row_edge_lists``); the cells near
any edge, which are impure (``mark_near_edges``); grid by grid in code order, the owners of
pure cells and the candidate grids of impure cells, by a scanline fill of cell centres plus
the cells each boundary touches (``assign_cells``); then one block per impure cell holding,
for each candidate, the edges near the cell and the parity of the farther edges that cross
the eastward ray of every point of the cell (``finish_raster``).

Rows and columns are ``floor((v - origin) * inverse_cell_size)`` here and in the lookup
alike, and every test is widened by a buffer (``EPS_DEG``, about 0.1 mm, or the boundary
tolerance): floating-point rounding can add work, never drop a candidate or an edge.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from geo.locate_kernels import FAR, IMPURE0, INV_SX, INV_SY, NEAR, NX, NY, SX, SY, X0, Y0

_BIG = 2**62


@njit(cache=True, nogil=True)
def _floor_index(v: float, origin: float, inverse: float, n: int) -> int:
    """Row or column of ``v``, clamped to [0, n - 1]."""
    f = np.floor((v - origin) * inverse)
    if f < 0.0:
        return 0
    if f > n - 1:
        return n - 1
    return int(f)


@njit(cache=True, nogil=True)
def _x_span(x1: float, y1: float, x2: float, y2: float, ya: float,
            yb: float) -> tuple[float, float]:
    """x-extent of the part of segment (x1, y1)-(x2, y2) with ya <= y <= yb."""
    if y1 == y2:
        return min(x1, x2), max(x1, x2)
    ta = min(max((ya - y1) / (y2 - y1), 0.0), 1.0)
    tb = min(max((yb - y1) / (y2 - y1), 0.0), 1.0)
    xa = x1 + ta * (x2 - x1)
    xb = x1 + tb * (x2 - x1)
    return min(xa, xb), max(xa, xb)


@njit(cache=True, nogil=True)
def row_edge_lists(vy: np.ndarray, edges: np.ndarray, grid_edge_off: np.ndarray, y0: float,
                   inv_sy: float, by: float, ny: int) -> tuple[np.ndarray, ...]:
    """Per grid and raster row, the edges whose y-span buffered by ``by`` meets the row.

    Returns ``row0, nrows, base, row_off, row_edges``: grid g's row r lists
    ``row_edges[row_off[k]:row_off[k + 1]]`` with ``k = base[g] + r - row0[g]``.
    """
    n = grid_edge_off.size - 1
    row0 = np.zeros(n, np.int32)
    nrows = np.zeros(n, np.int32)
    base = np.zeros(n + 1, np.int64)
    for g in range(n):
        lo, hi = _BIG, -1
        for j in range(grid_edge_off[g], grid_edge_off[g + 1]):
            e = edges[j]
            lo = min(lo, _floor_index(min(vy[e], vy[e + 1]) - by, y0, inv_sy, ny))
            hi = max(hi, _floor_index(max(vy[e], vy[e + 1]) + by, y0, inv_sy, ny))
        if hi >= 0:
            row0[g], nrows[g] = lo, hi - lo + 1
        base[g + 1] = base[g] + nrows[g]
    row_off = np.zeros(base[n] + 1, np.int64)
    for sweep in range(2):
        cursor = row_off[:-1].copy()
        if sweep == 1:
            row_edges = np.empty(row_off[-1], np.int32)
        for g in range(n):
            for j in range(grid_edge_off[g], grid_edge_off[g + 1]):
                e = edges[j]
                lo = _floor_index(min(vy[e], vy[e + 1]) - by, y0, inv_sy, ny)
                hi = _floor_index(max(vy[e], vy[e + 1]) + by, y0, inv_sy, ny)
                for r in range(lo, hi + 1):
                    k = base[g] + r - row0[g]
                    if sweep == 0:
                        row_off[k + 1] += 1
                    else:
                        row_edges[cursor[k]] = e
                        cursor[k] += 1
        if sweep == 0:
            row_off = np.cumsum(row_off)
    return row0, nrows, base, row_off, row_edges




@njit(cache=True, nogil=True, parallel=True)
def mark_near_edges(vx: np.ndarray, vy: np.ndarray, edges: np.ndarray, rp: np.ndarray,
                    bx: float, by: float) -> np.ndarray:
    """1 for every cell that an edge buffered by (bx, by) degrees touches, else 0."""
    nx, ny = int(rp[NX]), int(rp[NY])
    near = np.zeros(nx * ny, np.uint8)
    for j in prange(edges.size):
        e = edges[j]
        x1, y1, x2, y2 = vx[e], vy[e], vx[e + 1], vy[e + 1]
        ymin, ymax = min(y1, y2), max(y1, y2)
        for r in range(_floor_index(ymin - by, rp[Y0], rp[INV_SY], ny),
                       _floor_index(ymax + by, rp[Y0], rp[INV_SY], ny) + 1):
            ya = max(rp[Y0] + r * rp[SY] - by, ymin)
            yb = min(rp[Y0] + (r + 1) * rp[SY] + by, ymax)
            xa, xb = _x_span(x1, y1, x2, y2, ya, yb)
            for c in range(_floor_index(xa - bx, rp[X0], rp[INV_SX], nx),
                           _floor_index(xb + bx, rp[X0], rp[INV_SX], nx) + 1):
                near[r * nx + c] = 1  # benign race: every writer writes 1
    return near


@njit(cache=True, nogil=True)
def _grow(a: np.ndarray, need: int) -> np.ndarray:
    if need <= a.size:
        return a
    bigger = np.empty(max(need, 2 * a.size), a.dtype)
    bigger[:a.size] = a
    return bigger


@njit(cache=True, nogil=True)
def _edge_candidates(g: int, vx: np.ndarray, vy: np.ndarray, edges: np.ndarray,
                     grid_edge_off: np.ndarray, rp: np.ndarray, eps: float, stamp: np.ndarray,
                     pair_cell: np.ndarray, pair_grid: np.ndarray,
                     m: int) -> tuple[np.ndarray, np.ndarray, int]:
    """Append (cell, g) for every cell grid g's boundary (buffered by eps) touches."""
    nx, ny = int(rp[NX]), int(rp[NY])
    for j in range(grid_edge_off[g], grid_edge_off[g + 1]):
        e = edges[j]
        x1, y1, x2, y2 = vx[e], vy[e], vx[e + 1], vy[e + 1]
        ymin, ymax = min(y1, y2), max(y1, y2)
        for r in range(_floor_index(ymin - eps, rp[Y0], rp[INV_SY], ny),
                       _floor_index(ymax + eps, rp[Y0], rp[INV_SY], ny) + 1):
            ya = max(rp[Y0] + r * rp[SY] - eps, ymin)
            yb = min(rp[Y0] + (r + 1) * rp[SY] + eps, ymax)
            xa, xb = _x_span(x1, y1, x2, y2, ya, yb)
            c0 = _floor_index(xa - eps, rp[X0], rp[INV_SX], nx)
            c1 = _floor_index(xb + eps, rp[X0], rp[INV_SX], nx)
            pair_cell = _grow(pair_cell, m + c1 - c0 + 1)
            pair_grid = _grow(pair_grid, m + c1 - c0 + 1)
            for c in range(c0, c1 + 1):
                cell = r * nx + c
                if stamp[cell] != g:
                    stamp[cell] = g
                    pair_cell[m], pair_grid[m] = cell, g
                    m += 1
    return pair_cell, pair_grid, m


@njit(cache=True, nogil=True)
def _row_crossings(k: int, yc: float, vx: np.ndarray, vy: np.ndarray, row_off: np.ndarray,
                   row_edges: np.ndarray, xs: np.ndarray) -> int:
    """Store in xs the sorted x where row list k's edges cross y = yc; return their count."""
    n = 0
    for j in range(row_off[k], row_off[k + 1]):
        e = row_edges[j]
        x1, y1, x2, y2 = vx[e], vy[e], vx[e + 1], vy[e + 1]
        if (y1 > yc) != (y2 > yc):
            xs[n] = x1 + (yc - y1) * (x2 - x1) / (y2 - y1)
            n += 1
    xs[:n] = np.sort(xs[:n])
    return n


@njit(cache=True, nogil=True)
def assign_cells(order: np.ndarray, vx: np.ndarray, vy: np.ndarray, edges: np.ndarray,
                 grid_edge_off: np.ndarray, rows: tuple[np.ndarray, ...], impure: np.ndarray,
                 rp: np.ndarray, eps: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Owners of pure cells and (cell, grid) candidate pairs of impure cells.

    Grids are visited in ``order`` (lowest code first), so a pure cell inside overlapping
    grids goes to the lowest code and each impure cell's candidates come out in code order.
    A grid is a candidate of an impure cell its boundary touches or whose centre it covers.
    ``rows``: the row edge lists of ``row_edge_lists``.
    """
    row0, nrows, base, row_off, row_edges = rows
    nx = int(rp[NX])
    owner = np.full(impure.size, FAR, np.int32)
    stamp = np.full(impure.size, -1, np.int32)
    pair_cell = np.empty(1 << 16, np.int64)
    pair_grid = np.empty(1 << 16, np.int32)
    m = 0
    longest = 1
    for k in range(row_off.size - 1):
        longest = max(longest, row_off[k + 1] - row_off[k])
    xs = np.empty(longest, np.float64)
    for g in order:
        pair_cell, pair_grid, m = _edge_candidates(g, vx, vy, edges, grid_edge_off, rp, eps,
                                                   stamp, pair_cell, pair_grid, m)
        for rr in range(nrows[g]):
            r = row0[g] + rr
            n = _row_crossings(base[g] + rr, rp[Y0] + (r + 0.5) * rp[SY], vx, vy, row_off,
                               row_edges, xs)
            for p in range(0, n - 1, 2):
                c0 = max(int(np.ceil((xs[p] - rp[X0]) * rp[INV_SX] - 0.5)), 0)
                c1 = min(int(np.floor((xs[p + 1] - rp[X0]) * rp[INV_SX] - 0.5)), nx - 1)
                pair_cell = _grow(pair_cell, m + c1 - c0 + 1)
                pair_grid = _grow(pair_grid, m + c1 - c0 + 1)
                for c in range(c0, c1 + 1):
                    cell = r * nx + c
                    if impure[cell]:
                        if stamp[cell] != g:
                            stamp[cell] = g
                            pair_cell[m], pair_grid[m] = cell, g
                            m += 1
                    elif owner[cell] < 0:
                        owner[cell] = g
    return owner, pair_cell[:m], pair_grid[:m]


@njit(cache=True, nogil=True)
def _candidate_lists(owner: np.ndarray, impure: np.ndarray, reach: np.ndarray,
                     pair_cell: np.ndarray, pair_grid: np.ndarray) -> tuple[np.ndarray, ...]:
    """Number impure cells k = 0, 1, ... (owner = IMPURE0 - k), mark empty cells NEAR or
    FAR, and return ``cell_of`` (k -> cell) and the candidates of impure cell k,
    ``cands[cand_off[k]:cand_off[k + 1]]``."""
    k = 0
    cell_of = np.empty(int(np.count_nonzero(impure)), np.int64)
    for cell in range(owner.size):
        if impure[cell]:
            owner[cell] = IMPURE0 - k
            cell_of[k] = cell
            k += 1
        elif owner[cell] < 0:
            owner[cell] = NEAR if reach[cell] else FAR
    cand_off = np.zeros(k + 1, np.int64)
    for p in range(pair_cell.size):
        cand_off[IMPURE0 - owner[pair_cell[p]] + 1] += 1
    cand_off = np.cumsum(cand_off)
    cursor = cand_off[:-1].copy()
    cands = np.empty(pair_cell.size, np.int32)
    for p in range(pair_cell.size):  # stable: pairs come in code order per cell
        i = IMPURE0 - owner[pair_cell[p]]
        cands[cursor[i]] = pair_grid[p]
        cursor[i] += 1
    return cell_of, cand_off, cands


@njit(cache=True, nogil=True)
def _edge_role(x1: float, y1: float, x2: float, y2: float, xa: float, xb: float, ya: float,
               yb: float, bx: float, by: float, eps: float) -> int:
    """How an edge matters to points in cell [xa, xb] x [ya, yb].

    1: list it (it comes within (bx, by) of the cell, or ends inside the cell's latitudes so
    that whether it crosses a point's eastward ray depends on the point); 2: it crosses the
    eastward ray of every point of the cell; 0: it crosses none.
    """
    ymin, ymax = min(y1, y2), max(y1, y2)
    low, high = ya - by - eps, yb + by + eps
    if ymax >= low and ymin <= high:
        sx0, sx1 = _x_span(x1, y1, x2, y2, max(low, ymin), min(high, ymax))
        if sx1 >= xa - bx - eps and sx0 <= xb + bx + eps:
            return 1
    west, east = min(x1, x2), max(x1, x2)
    if (ya - eps <= y1 <= yb + eps) or (ya - eps <= y2 <= yb + eps):
        return 1 if east >= xa - eps else 0
    if ymin < ya - eps and ymax > yb + eps:
        if west > xb + eps:
            return 2
        return 0 if east < xa - eps else 1
    return 0


@njit(cache=True, nogil=True)
def _cell_block(cell: int, k: int, cand_off: np.ndarray, cands: np.ndarray,
                rows: tuple[np.ndarray, ...], edge_of_vertex: np.ndarray, vx: np.ndarray,
                vy: np.ndarray, rp: np.ndarray, buffers: tuple[float, float, float],
                blocks: np.ndarray, at: int) -> int:
    """Write impure cell k's block at ``at`` (when ``blocks`` is not empty); return its size.

    Layout: n candidates, then per candidate: grid, ``count << 1 | parity``, then ``count``
    edge record numbers.
    """
    row0, nrows, base, row_off, row_edges = rows
    bx, by, eps = buffers
    nx = int(rp[NX])
    r, c = cell // nx, cell % nx
    xa, ya = rp[X0] + c * rp[SX], rp[Y0] + r * rp[SY]
    xb, yb = xa + rp[SX], ya + rp[SY]
    write = blocks.size > 0
    size = 1
    for j in range(cand_off[k], cand_off[k + 1]):
        g = cands[j]
        head, parity, count = at + size, 0, 0
        rr = r - row0[g]
        if 0 <= rr < nrows[g]:
            for q in range(row_off[base[g] + rr], row_off[base[g] + rr + 1]):
                e = row_edges[q]
                role = _edge_role(vx[e], vy[e], vx[e + 1], vy[e + 1], xa, xb, ya, yb, bx, by,
                                  eps)
                if role == 2:
                    parity ^= 1
                elif role == 1:
                    if write:
                        blocks[head + 2 + count] = edge_of_vertex[e]
                    count += 1
        if write:
            blocks[head], blocks[head + 1] = g, count << 1 | parity
        size += 2 + count
    if write:
        blocks[at] = cand_off[k + 1] - cand_off[k]
    return size


@njit(cache=True, nogil=True, parallel=True)
def finish_raster(owner: np.ndarray, impure: np.ndarray, reach: np.ndarray,
                  pair_cell: np.ndarray, pair_grid: np.ndarray, rows: tuple[np.ndarray, ...],
                  edge_of_vertex: np.ndarray, vx: np.ndarray, vy: np.ndarray, rp: np.ndarray,
                  buffers: tuple[float, float, float]) -> np.ndarray:
    """Encode ``owner`` in place as the final raster and return the candidate blocks.

    An impure cell holds IMPURE0 - b; ``blocks[b:]`` is its block (see ``_cell_block``).
    Empty cells become NEAR where ``reach`` says a grid may lie within the outside radius,
    else FAR.
    """
    cell_of, cand_off, cands = _candidate_lists(owner, impure, reach, pair_cell, pair_grid)
    none = np.empty(0, np.int32)
    offsets = np.zeros(cell_of.size + 1, np.int64)
    for k in prange(cell_of.size):
        offsets[k + 1] = _cell_block(cell_of[k], k, cand_off, cands, rows, edge_of_vertex, vx,
                                     vy, rp, buffers, none, 0)
    offsets = np.cumsum(offsets)
    if offsets[-1] >= 2**31 - 8:
        raise ValueError("too many candidate cells: lower cells_per_grid")
    blocks = np.empty(offsets[-1], np.int32)
    for k in prange(cell_of.size):
        _cell_block(cell_of[k], k, cand_off, cands, rows, edge_of_vertex, vx, vy, rp, buffers,
                    blocks, offsets[k])
        owner[cell_of[k]] = IMPURE0 - offsets[k]
    return blocks


@njit(cache=True, nogil=True)
def block_candidates(blocks: np.ndarray, at: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(which block, grid) for every candidate of the blocks starting at ``at``, in order."""
    total = 0
    for b in at:
        total += blocks[b]
    which = np.empty(total, np.int64)
    grid = np.empty(total, np.int32)
    n = 0
    for w in range(at.size):
        head = at[w] + 1
        for _ in range(blocks[at[w]]):
            which[n], grid[n] = w, blocks[head]
            n += 1
            head += 2 + (blocks[head + 1] >> 1)
    return which, grid


@njit(cache=True, nogil=True)
def _within(flags: np.ndarray, reach: int, out: np.ndarray) -> None:
    """out[i] = 1 where a nonzero flag lies within ``reach`` positions of i (1-D)."""
    last = -_BIG
    for i in range(flags.size):
        if flags[i]:
            last = i
        out[i] = i - last <= reach
    last = _BIG
    for i in range(flags.size - 1, -1, -1):
        if flags[i]:
            last = i
        if last - i <= reach:
            out[i] = 1


@njit(cache=True, nogil=True, parallel=True)
def dilate(mask: np.ndarray, kx: int, ky: int) -> np.ndarray:
    """1 where a nonzero of 2-D ``mask`` lies within kx columns and ky rows, else 0."""
    ny, nx = mask.shape
    across = np.zeros((ny, nx), np.uint8)
    for r in prange(ny):
        _within(mask[r], kx, across[r])
    out = np.zeros((ny, nx), np.uint8)
    last = np.full(nx, -_BIG, np.int64)
    for r in range(ny):  # rows in order, all columns at once: reads stay sequential
        for c in range(nx):
            if across[r, c]:
                last[c] = r
            out[r, c] = r - last[c] <= ky
    last[:] = _BIG
    for r in range(ny - 1, -1, -1):
        for c in range(nx):
            if across[r, c]:
                last[c] = r
            if last[c] - r <= ky:
                out[r, c] = 1
    return out

