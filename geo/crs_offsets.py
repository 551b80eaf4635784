"""GCJ-02 and BD-09, the Chinese web-map offsets, with exact (iterated) inverses.

GCJ-02 (AMap, Tencent, WeChat ``wx.getLocation``) shifts WGS84 by a few hundred metres
with a published polynomial on the Krasovsky ellipsoid; BD-09 (Baidu) adds a further
rotation and shift on top of GCJ-02. Both forwards are the widely circulated public
formulas. Their published inverses are one-step approximations (the GCJ-02 one errs by up
to ~6 m, the BD-09 one by ~0.2 m), so here every inverse iterates on the forward until the
round trip closes to ~1e-11 degrees (about a micrometre).

Every function takes ``(lon, lat)`` as Python floats or array-likes (broadcast together)
and returns the same kind: floats for scalar input, float64 arrays of the broadcast shape
otherwise. NaN stays NaN.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any, TypeVar, overload

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "bd09_to_gcj02",
    "bd09_to_wgs84",
    "gcj02_to_bd09",
    "gcj02_to_wgs84",
    "in_china_bbox",
    "wgs84_to_bd09",
    "wgs84_to_gcj02",
]

FloatArray = NDArray[np.float64]
_PlaneFn = Callable[[FloatArray, FloatArray], tuple[FloatArray, FloatArray]]
_PointFn = Callable[[float, float], tuple[float, float]]
_T = TypeVar("_T", float, FloatArray)

# Krasovsky 1940, the ellipsoid the GCJ-02 polynomial is defined on.
_KRASOVSKY_A = 6378245.0
_KRASOVSKY_EE = 0.00669342162296594323
_BD_X_PI = math.pi * 3000.0 / 180.0

# The conventional "is it in China" box of the public GCJ-02 implementations. It
# is deliberately rough (it covers Mongolia, the Korean peninsula, much of Japan and
# South-East Asia): points outside it pass through unchanged, points inside are offset.
CHINA_BBOX = (72.004, 0.8293, 137.8347, 55.8271)  # min lon, min lat, max lon, max lat

# Iteration stops once the forward of the estimate lands within this of the target; the
# correction applied at that step shrinks the remaining error by another 100-fold or more
# (measured contraction per step: <7e-3 for GCJ-02, <1.1e-2 for BD-09), so results are
# within ~1e-11 degrees (a micrometre). Four to five steps get there.
_RESIDUAL_TOLERANCE_DEG = 1e-9
_MAX_ITERATIONS = 30


# math under numpy's names, so each formula is written once and serves both arrays and
# single points: numpy's per-call overhead would make one point cost ~0.4 ms instead of ~20 µs.
_MATH = SimpleNamespace(sin=math.sin, cos=math.cos, sqrt=math.sqrt, abs=abs, hypot=math.hypot,
                        arctan2=math.atan2)
# NaN, inf and absurd magnitudes (where math raises instead of returning NaN) take the
# numpy path even for a single point.
_SCALAR_LIMIT = 1e6


def _as_arrays(lon: Any, lat: Any) -> tuple[FloatArray, FloatArray, bool]:
    scalar = np.ndim(lon) == 0 and np.ndim(lat) == 0
    x, y = np.broadcast_arrays(np.asarray(lon, dtype=np.float64),
                               np.asarray(lat, dtype=np.float64))
    return x, y, scalar


def _restore(x: FloatArray, y: FloatArray, scalar: bool) -> tuple[Any, Any]:
    if scalar:
        return float(x), float(y)
    return x, y


def _apply(on_arrays: _PlaneFn, on_floats: _PointFn, lon: Any, lat: Any) -> tuple[Any, Any]:
    if np.ndim(lon) == 0 and np.ndim(lat) == 0:
        x, y = float(lon), float(lat)
        if abs(x) < _SCALAR_LIMIT and abs(y) < _SCALAR_LIMIT:
            return on_floats(x, y)
    xs, ys, scalar = _as_arrays(lon, lat)
    with np.errstate(invalid="ignore", over="ignore"):
        out_x, out_y = on_arrays(xs, ys)
    return _restore(out_x, out_y, scalar)


@overload
def in_china_bbox(lon: float, lat: float) -> bool: ...
@overload
def in_china_bbox(lon: ArrayLike, lat: ArrayLike) -> NDArray[np.bool_]: ...
def in_china_bbox(lon: ArrayLike, lat: ArrayLike) -> Any:
    """Return whether points fall inside the conventional GCJ-02 "China" box.

    Parameters
    ----------
    lon, lat : float or array_like
        WGS84 (or GCJ-02) degrees.

    Returns
    -------
    bool or numpy.ndarray of bool
        A Python bool for scalar input, else a boolean array of the broadcast shape.
        NaN is outside.
    """
    x, y, scalar = _as_arrays(lon, lat)
    inside = _inside(x, y)
    return bool(inside) if scalar else inside


def _inside(x: _T, y: _T) -> Any:
    min_x, min_y, max_x, max_y = CHINA_BBOX
    return (x >= min_x) & (x <= max_x) & (y >= min_y) & (y <= max_y)


def _gcj_delta(lon: _T, lat: _T, xp: Any = np) -> tuple[_T, _T]:
    """The GCJ-02 offset (degrees) at a WGS84 point, ignoring the China box."""
    x = lon - 105.0
    y = lat - 35.0
    x_pi = x * math.pi
    y_pi = y * math.pi
    shared = 20.0 * xp.sin(6.0 * x_pi) + 20.0 * xp.sin(2.0 * x_pi)
    sqrt_abs_x = xp.sqrt(xp.abs(x))
    d_lat = (-100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * sqrt_abs_x
             + (shared
                + 20.0 * xp.sin(y_pi) + 40.0 * xp.sin(y_pi / 3.0)
                + 160.0 * xp.sin(y_pi / 12.0) + 320.0 * xp.sin(y_pi / 30.0)) * (2.0 / 3.0))
    d_lon = (300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * sqrt_abs_x
             + (shared
                + 20.0 * xp.sin(x_pi) + 40.0 * xp.sin(x_pi / 3.0)
                + 150.0 * xp.sin(x_pi / 12.0) + 300.0 * xp.sin(x_pi / 30.0)) * (2.0 / 3.0))
    rad_lat = lat / 180.0 * math.pi
    sin_lat = xp.sin(rad_lat)
    magic = 1.0 - _KRASOVSKY_EE * sin_lat * sin_lat
    sqrt_magic = xp.sqrt(magic)
    d_lat = d_lat * 180.0 / (_KRASOVSKY_A * (1.0 - _KRASOVSKY_EE) / (magic * sqrt_magic) * math.pi)
    d_lon = d_lon * 180.0 / (_KRASOVSKY_A / sqrt_magic * xp.cos(rad_lat) * math.pi)
    return d_lon, d_lat


def _gcj_forward(lon: _T, lat: _T, xp: Any = np) -> tuple[_T, _T]:
    d_lon, d_lat = _gcj_delta(lon, lat, xp)
    return lon + d_lon, lat + d_lat


def _bd_forward(lon: _T, lat: _T, xp: Any = np) -> tuple[_T, _T]:
    z = xp.hypot(lon, lat) + 0.00002 * xp.sin(lat * _BD_X_PI)
    theta = xp.arctan2(lat, lon) + 0.000003 * xp.cos(lon * _BD_X_PI)
    return z * xp.cos(theta) + 0.0065, z * xp.sin(theta) + 0.006


def _bd_published_inverse(lon: _T, lat: _T, xp: Any = np) -> tuple[_T, _T]:
    """The widely copied BD-09 -> GCJ-02 formula: off by up to ~0.2 m, a starting guess."""
    x = lon - 0.0065
    y = lat - 0.006
    z = xp.hypot(x, y) - 0.00002 * xp.sin(y * _BD_X_PI)
    theta = xp.arctan2(y, x) - 0.000003 * xp.cos(x * _BD_X_PI)
    return z * xp.cos(theta), z * xp.sin(theta)


def _invert(forward: Callable[..., tuple[FloatArray, FloatArray]],
            target_x: FloatArray, target_y: FloatArray,
            guess_x: FloatArray, guess_y: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Solve ``forward(p) == target`` by fixed-point iteration ``p -= forward(p) - target``.

    Converges because both offsets are near-translations: their Jacobians differ from the
    identity by < 0.03, so each step shrinks the error at least 30-fold and the last
    correction leaves an error far below the residual tolerance. Non-finite points are
    left out from the start and converged ones drop out, so neither can stall the loop.
    """
    x = guess_x.astype(np.float64, copy=True).reshape(-1)
    y = guess_y.astype(np.float64, copy=True).reshape(-1)
    tx = target_x.reshape(-1)
    ty = target_y.reshape(-1)
    finite = np.isfinite(x) & np.isfinite(y)
    # A slice keeps the common all-finite case free of fancy indexing until points drop out.
    sel: slice | NDArray[np.intp] = slice(None) if finite.all() else np.flatnonzero(finite)
    for _ in range(_MAX_ITERATIONS):
        fx, fy = forward(x[sel], y[sel])
        rx = fx - tx[sel]
        ry = fy - ty[sel]
        x[sel] -= rx
        y[sel] -= ry
        pending = (np.abs(rx) >= _RESIDUAL_TOLERANCE_DEG) | (np.abs(ry) >= _RESIDUAL_TOLERANCE_DEG)
        if not pending.any():
            break
        if not pending.all():
            sel = np.arange(x.size)[sel][pending]
    return x.reshape(target_x.shape), y.reshape(target_y.shape)


def _invert_point(forward: Callable[..., tuple[float, float]], target_x: float,
                  target_y: float, x: float, y: float) -> tuple[float, float]:
    """:func:`_invert` for one finite point, in plain floats."""
    for _ in range(_MAX_ITERATIONS):
        fx, fy = forward(x, y, _MATH)
        rx = fx - target_x
        ry = fy - target_y
        x -= rx
        y -= ry
        if abs(rx) < _RESIDUAL_TOLERANCE_DEG and abs(ry) < _RESIDUAL_TOLERANCE_DEG:
            break
    return x, y


def _wgs_to_gcj(lon: FloatArray, lat: FloatArray) -> tuple[FloatArray, FloatArray]:
    inside = _inside(lon, lat)
    d_lon, d_lat = _gcj_delta(lon, lat)
    return np.where(inside, lon + d_lon, lon), np.where(inside, lat + d_lat, lat)


def _wgs_to_gcj_point(lon: float, lat: float) -> tuple[float, float]:
    return _gcj_forward(lon, lat, _MATH) if _inside(lon, lat) else (lon, lat)


def _gcj_to_wgs(lon: FloatArray, lat: FloatArray) -> tuple[FloatArray, FloatArray]:
    # The box is tested on the GCJ-02 input, as the public implementations do.
    inside = _inside(lon, lat)
    x, y = _invert(_gcj_forward, lon[inside], lat[inside], lon[inside], lat[inside])
    out_lon = lon.copy()
    out_lat = lat.copy()
    out_lon[inside] = x
    out_lat[inside] = y
    return out_lon, out_lat


def _gcj_to_wgs_point(lon: float, lat: float) -> tuple[float, float]:
    if not _inside(lon, lat):
        return lon, lat
    return _invert_point(_gcj_forward, lon, lat, lon, lat)


def _bd_to_gcj(lon: FloatArray, lat: FloatArray) -> tuple[FloatArray, FloatArray]:
    return _invert(_bd_forward, lon, lat, *_bd_published_inverse(lon, lat))


def _bd_to_gcj_point(lon: float, lat: float) -> tuple[float, float]:
    return _invert_point(_bd_forward, lon, lat, *_bd_published_inverse(lon, lat, _MATH))


def _bd_forward_point(lon: float, lat: float) -> tuple[float, float]:
    return _bd_forward(lon, lat, _MATH)


@overload
def wgs84_to_gcj02(lon: float, lat: float) -> tuple[float, float]: ...
@overload
def wgs84_to_gcj02(lon: ArrayLike, lat: ArrayLike) -> tuple[FloatArray, FloatArray]: ...
def wgs84_to_gcj02(lon: ArrayLike, lat: ArrayLike) -> tuple[Any, Any]:
    """Offset WGS84 coordinates to GCJ-02 (AMap, Tencent, WeChat).

    Points outside the conventional China box (:data:`CHINA_BBOX`) pass through unchanged.

    Parameters
    ----------
    lon, lat : float or array_like
        WGS84 longitude and latitude in degrees.

    Returns
    -------
    tuple
        GCJ-02 ``(lon, lat)``: floats for scalar input, float64 arrays otherwise.
    """
    return _apply(_wgs_to_gcj, _wgs_to_gcj_point, lon, lat)


@overload
def gcj02_to_wgs84(lon: float, lat: float) -> tuple[float, float]: ...
@overload
def gcj02_to_wgs84(lon: ArrayLike, lat: ArrayLike) -> tuple[FloatArray, FloatArray]: ...
def gcj02_to_wgs84(lon: ArrayLike, lat: ArrayLike) -> tuple[Any, Any]:
    """Exact inverse of :func:`wgs84_to_gcj02` (round trip within ~1e-11 degrees, a micrometre).

    Parameters
    ----------
    lon, lat : float or array_like
        GCJ-02 longitude and latitude in degrees.

    Returns
    -------
    tuple
        WGS84 ``(lon, lat)``: floats for scalar input, float64 arrays otherwise.
    """
    return _apply(_gcj_to_wgs, _gcj_to_wgs_point, lon, lat)


@overload
def gcj02_to_bd09(lon: float, lat: float) -> tuple[float, float]: ...
@overload
def gcj02_to_bd09(lon: ArrayLike, lat: ArrayLike) -> tuple[FloatArray, FloatArray]: ...
def gcj02_to_bd09(lon: ArrayLike, lat: ArrayLike) -> tuple[Any, Any]:
    """Offset GCJ-02 coordinates to BD-09 (Baidu).

    BD-09 is defined on top of GCJ-02 and, following the common convention, its own
    offset applies everywhere (there is no China box at this step).

    Parameters
    ----------
    lon, lat : float or array_like
        GCJ-02 longitude and latitude in degrees.

    Returns
    -------
    tuple
        BD-09 ``(lon, lat)``: floats for scalar input, float64 arrays otherwise.
    """
    return _apply(_bd_forward, _bd_forward_point, lon, lat)


@overload
def bd09_to_gcj02(lon: float, lat: float) -> tuple[float, float]: ...
@overload
def bd09_to_gcj02(lon: ArrayLike, lat: ArrayLike) -> tuple[FloatArray, FloatArray]: ...
def bd09_to_gcj02(lon: ArrayLike, lat: ArrayLike) -> tuple[Any, Any]:
    """Exact inverse of :func:`gcj02_to_bd09` (round trip within ~1e-11 degrees, a micrometre).

    Parameters
    ----------
    lon, lat : float or array_like
        BD-09 longitude and latitude in degrees.

    Returns
    -------
    tuple
        GCJ-02 ``(lon, lat)``: floats for scalar input, float64 arrays otherwise.
    """
    return _apply(_bd_to_gcj, _bd_to_gcj_point, lon, lat)


@overload
def wgs84_to_bd09(lon: float, lat: float) -> tuple[float, float]: ...
@overload
def wgs84_to_bd09(lon: ArrayLike, lat: ArrayLike) -> tuple[FloatArray, FloatArray]: ...
def wgs84_to_bd09(lon: ArrayLike, lat: ArrayLike) -> tuple[Any, Any]:
    """Offset WGS84 coordinates to BD-09: GCJ-02 first (identity outside the box), then BD.

    Parameters
    ----------
    lon, lat : float or array_like
        WGS84 longitude and latitude in degrees.

    Returns
    -------
    tuple
        BD-09 ``(lon, lat)``: floats for scalar input, float64 arrays otherwise.
    """
    return _apply(lambda x, y: _bd_forward(*_wgs_to_gcj(x, y)),
                  lambda x, y: _bd_forward_point(*_wgs_to_gcj_point(x, y)), lon, lat)


@overload
def bd09_to_wgs84(lon: float, lat: float) -> tuple[float, float]: ...
@overload
def bd09_to_wgs84(lon: ArrayLike, lat: ArrayLike) -> tuple[FloatArray, FloatArray]: ...
def bd09_to_wgs84(lon: ArrayLike, lat: ArrayLike) -> tuple[Any, Any]:
    """Exact inverse of :func:`wgs84_to_bd09`.

    Parameters
    ----------
    lon, lat : float or array_like
        BD-09 longitude and latitude in degrees.

    Returns
    -------
    tuple
        WGS84 ``(lon, lat)``: floats for scalar input, float64 arrays otherwise.
    """
    return _apply(lambda x, y: _gcj_to_wgs(*_bd_to_gcj(x, y)),
                  lambda x, y: _gcj_to_wgs_point(*_bd_to_gcj_point(x, y)), lon, lat)
