"""Coordinate conversion: GCJ-02/BD-09 offsets and their exact inverses, the CRS vocabulary,
EPSG transforms and geometry conversion. Pure numpy/pyproj/shapely, no database."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pyproj
import pytest
import shapely

from geo.crs import (
    BD09,
    CGCS2000,
    GCJ02,
    WGS84,
    CRSKind,
    InputCRS,
    from_wgs84,
    geometries_from_wgs84,
    geometries_to_wgs84,
    in_china_bbox,
    looks_like_lonlat,
    parse_crs,
    to_wgs84,
)
from geo.crs_offsets import (
    bd09_to_gcj02,
    bd09_to_wgs84,
    gcj02_to_bd09,
    gcj02_to_wgs84,
    wgs84_to_bd09,
    wgs84_to_gcj02,
)
from geo.errors import InvalidInput, UnknownCRS

GEOD = pyproj.Geod(ellps="WGS84")
BEIGAN = (120.27, 30.18)
OUTSIDE_CHINA = {"London": (-0.1276, 51.5072), "Sydney": (151.2093, -33.8688),
                 "New York": (-74.0060, 40.7128)}

# (wgs lon, wgs lat, gcj lon, gcj lat). The first three are the test vectors of
# googollee/eviltransform (python/test.py: Shanghai, Shenzhen, Beijing); the last is from
# wandergis/coordtransform (test/app.js: wgs84togcj02(116.404, 39.915)).
GCJ_VECTORS = [
    (121.5272106, 31.1774276, 121.531541859215, 31.17530398364597),
    (113.912316, 22.543847, 113.9171764808363, 22.540796131694766),
    (116.377817, 39.911954, 116.38404722455657, 39.91334545536069),
    (116.404, 39.915, 116.41024449916938, 39.91640428150164),
]
# wandergis/coordtransform test/app.js: gcj02tobd09(116.404, 39.915).
BD_VECTOR = (116.404, 39.915, 116.41036949371029, 39.92133699351021)


def metres(lon1, lat1, lon2, lat2) -> np.ndarray:
    return np.asarray(GEOD.inv(lon1, lat1, lon2, lat2)[2])


@pytest.fixture(scope="module")
def china_points() -> tuple[np.ndarray, np.ndarray]:
    """10,000 seeded WGS84 points across China, away from the GCJ box edges."""
    rng = np.random.default_rng(20201231)
    return rng.uniform(73.7, 134.8, 10_000), rng.uniform(18.2, 53.5, 10_000)


def published_bd09_to_gcj02(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The widely copied one-step BD-09 inverse, to show it is not good enough."""
    x_pi = math.pi * 3000.0 / 180.0
    x, y = lon - 0.0065, lat - 0.006
    z = np.hypot(x, y) - 0.00002 * np.sin(y * x_pi)
    theta = np.arctan2(y, x) - 0.000003 * np.cos(x * x_pi)
    return z * np.cos(theta), z * np.sin(theta)


# --- forward offsets -------------------------------------------------------------------

@pytest.mark.parametrize(("lon", "lat", "gcj_lon", "gcj_lat"), GCJ_VECTORS)
def test_wgs84_to_gcj02_matches_published_vectors(lon, lat, gcj_lon, gcj_lat):
    assert wgs84_to_gcj02(lon, lat) == pytest.approx((gcj_lon, gcj_lat), abs=1e-10)


def test_gcj02_to_bd09_matches_published_vector():
    lon, lat, bd_lon, bd_lat = BD_VECTOR
    assert gcj02_to_bd09(lon, lat) == pytest.approx((bd_lon, bd_lat), abs=1e-10)


def test_gcj02_offset_around_beigan_is_about_500_m():
    gcj = wgs84_to_gcj02(*BEIGAN)
    assert 450 < float(metres(*BEIGAN, *gcj)) < 600


# --- exact inverses --------------------------------------------------------------------

def test_gcj02_to_wgs84_round_trip_is_within_a_centimetre(china_points):
    lon, lat = china_points
    gcj_lon, gcj_lat = wgs84_to_gcj02(lon, lat)
    back_lon, back_lat = gcj02_to_wgs84(gcj_lon, gcj_lat)
    assert metres(lon, lat, back_lon, back_lat).max() < 0.01
    assert np.abs(back_lon - lon).max() < 1e-9
    assert np.abs(back_lat - lat).max() < 1e-9


def test_one_step_gcj02_inverse_would_not_be_good_enough(china_points):
    lon, lat = china_points
    gcj_lon, gcj_lat = wgs84_to_gcj02(lon, lat)
    # One step subtracts the offset taken at the GCJ point: g - delta(g) == 2g - forward(g).
    fwd_lon, fwd_lat = wgs84_to_gcj02(gcj_lon, gcj_lat)
    one_step = metres(lon, lat, 2 * gcj_lon - fwd_lon, 2 * gcj_lat - fwd_lat)
    assert one_step.max() > 0.5


def test_inverse_then_forward_returns_the_gcj02_input(china_points):
    gcj_lon, gcj_lat = china_points  # any point inside the box is a valid GCJ-02 point
    assert np.allclose(wgs84_to_gcj02(*gcj02_to_wgs84(gcj_lon, gcj_lat)),
                       (gcj_lon, gcj_lat), rtol=0, atol=1e-9)


def test_bd09_round_trips_are_within_a_centimetre(china_points):
    lon, lat = china_points
    bd_lon, bd_lat = wgs84_to_bd09(lon, lat)
    assert metres(lon, lat, *bd09_to_wgs84(bd_lon, bd_lat)).max() < 0.01
    gcj_lon, gcj_lat = wgs84_to_gcj02(lon, lat)
    bd_lon, bd_lat = gcj02_to_bd09(gcj_lon, gcj_lat)
    assert metres(gcj_lon, gcj_lat, *bd09_to_gcj02(bd_lon, bd_lat)).max() < 0.01


def test_published_bd09_inverse_would_not_be_good_enough(china_points):
    gcj_lon, gcj_lat = china_points
    bd_lon, bd_lat = gcj02_to_bd09(gcj_lon, gcj_lat)
    assert metres(gcj_lon, gcj_lat, *published_bd09_to_gcj02(bd_lon, bd_lat)).max() > 0.1


# --- outside China ---------------------------------------------------------------------

@pytest.mark.parametrize("city", sorted(OUTSIDE_CHINA))
def test_gcj02_passes_points_outside_china_through(city):
    lon, lat = OUTSIDE_CHINA[city]
    assert not in_china_bbox(lon, lat)
    assert wgs84_to_gcj02(lon, lat) == (lon, lat)
    assert gcj02_to_wgs84(lon, lat) == (lon, lat)


@pytest.mark.parametrize("city", sorted(OUTSIDE_CHINA))
def test_bd09_outside_china_is_only_the_bd_step(city):
    lon, lat = OUTSIDE_CHINA[city]
    assert wgs84_to_bd09(lon, lat) == gcj02_to_bd09(lon, lat)
    assert bd09_to_wgs84(*wgs84_to_bd09(lon, lat)) == pytest.approx((lon, lat), abs=1e-9)


def test_mixed_array_offsets_only_points_inside_china():
    lon = np.array([BEIGAN[0], OUTSIDE_CHINA["London"][0], BEIGAN[0]])
    lat = np.array([BEIGAN[1], OUTSIDE_CHINA["London"][1], BEIGAN[1]])
    gcj_lon, gcj_lat = wgs84_to_gcj02(lon, lat)
    assert list(gcj_lon != lon) == [True, False, True]
    assert list(gcj02_to_wgs84(gcj_lon, gcj_lat)[0] == gcj_lon) == [False, True, False]


# --- input and output kinds ------------------------------------------------------------

OFFSET_FUNCTIONS = [wgs84_to_gcj02, gcj02_to_wgs84, gcj02_to_bd09, bd09_to_gcj02,
                    wgs84_to_bd09, bd09_to_wgs84]


@pytest.mark.parametrize("fn", OFFSET_FUNCTIONS)
def test_scalars_in_scalars_out(fn):
    lon, lat = fn(*BEIGAN)
    assert type(lon) is float
    assert type(lat) is float


@pytest.mark.parametrize("fn", OFFSET_FUNCTIONS)
def test_arrays_keep_their_shape(fn, china_points):
    lon = china_points[0][:12].reshape(3, 4)
    lat = china_points[1][:12].reshape(3, 4)
    out_lon, out_lat = fn(lon, lat)
    assert out_lon.shape == out_lat.shape == (3, 4)
    assert out_lon.dtype == np.float64
    scalar = fn(float(lon[1, 2]), float(lat[1, 2]))
    assert (out_lon[1, 2], out_lat[1, 2]) == pytest.approx(scalar, abs=1e-12)


def test_lists_and_broadcasting_give_arrays():
    lon, lat = gcj02_to_wgs84([120.27, 120.28], 30.18)
    assert isinstance(lon, np.ndarray)
    assert lon.shape == lat.shape == (2,)
    assert gcj02_to_wgs84(np.array([]), np.array([]))[0].shape == (0,)


@pytest.mark.parametrize("fn", OFFSET_FUNCTIONS)
def test_nan_and_inf_pass_quietly(fn):
    lon = np.array([np.nan, BEIGAN[0], np.inf, np.nan])
    lat = np.array([BEIGAN[1], BEIGAN[1], 30.0, np.nan])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out_lon, out_lat = fn(lon, lat)
        scalar = fn(math.nan, math.nan)
        fn(math.inf, 30.0)
        fn(1e300, -1e300)
    assert np.isnan(out_lon[[0, 3]]).all()
    assert np.isnan(out_lat[3])
    assert np.isfinite(out_lon[1]) and np.isfinite(out_lat[1])
    assert math.isnan(scalar[0]) and math.isnan(scalar[1])


# --- the CRS vocabulary ----------------------------------------------------------------

@pytest.mark.parametrize(("value", "expected"), [
    ("wgs84", WGS84), ("WGS84", WGS84), ("epsg:4326", WGS84), ("EPSG:4326", WGS84),
    ("4326", WGS84), ("cgcs2000", CGCS2000), ("CGCS2000", CGCS2000), ("epsg:4490", CGCS2000),
    ("gcj02", GCJ02), ("GCJ-02", GCJ02), ("gcj-02", GCJ02), ("bd09", BD09), ("BD-09", BD09),
    ("bd-09", BD09), ("EPSG:4549", InputCRS(CRSKind.EPSG, 4549)),
    ("epsg:4549", InputCRS(CRSKind.EPSG, 4549)), (" EPSG:3857 ", InputCRS(CRSKind.EPSG, 3857)),
    ("http://www.opengis.net/def/crs/OGC/1.3/CRS84", WGS84),
    ("http://www.opengis.net/def/crs/EPSG/0/4549", InputCRS(CRSKind.EPSG, 4549)),
])
def test_parse_crs_accepts_the_documented_spellings(value, expected):
    crs = parse_crs(value)
    assert crs == expected
    assert parse_crs(crs.name) == crs


def test_parsed_crs_has_display_names():
    assert parse_crs("gcj-02").name == "GCJ-02"
    crs = parse_crs("EPSG:4549")
    assert crs.name == "EPSG:4549"
    assert "Gauss-Kruger" in crs.title
    assert not crs.is_lonlat
    assert GCJ02.is_lonlat


@pytest.mark.parametrize("value", ["foo", "EPSG:999999", "EPSG:5773", "", "EPSG:"])
def test_parse_crs_rejects_unknown_values_listing_accepted_forms(value):
    with pytest.raises(UnknownCRS) as caught:
        parse_crs(value)
    message = str(caught.value)
    assert repr(value) in message
    for form in ("wgs84", "cgcs2000", "gcj-02", "bd-09", "EPSG:<code>"):
        assert form in message
    assert caught.value.field == "crs"


# --- to_wgs84 / from_wgs84 -------------------------------------------------------------

def test_to_wgs84_from_cgcs2000_gauss_kruger_cm_120e():
    forward = pyproj.Transformer.from_crs(4326, 4549, always_xy=True)
    easting, northing = forward.transform(*BEIGAN)
    assert 500_000 < easting < 600_000  # x is the easting: Beigan is just east of 120E
    assert 3_300_000 < northing < 3_400_000
    assert to_wgs84(easting, northing, "EPSG:4549") == pytest.approx(BEIGAN, abs=1e-9)
    assert from_wgs84(*BEIGAN, "EPSG:4549") == pytest.approx((easting, northing), abs=1e-6)


def test_to_wgs84_from_cgcs2000_geographic_is_identity():
    lon, lat = to_wgs84(np.array([120.27, 120.3]), np.array([30.18, 30.2]), "EPSG:4490")
    assert np.allclose(lon, [120.27, 120.3], rtol=0, atol=1e-9)
    assert np.allclose(lat, [30.18, 30.2], rtol=0, atol=1e-9)


@pytest.mark.parametrize(("crs", "inverse"), [("gcj02", gcj02_to_wgs84), ("bd09", bd09_to_wgs84)])
def test_to_wgs84_uses_the_exact_offset_inverse(crs, inverse):
    assert to_wgs84(*BEIGAN, crs) == inverse(*BEIGAN)
    assert to_wgs84(*from_wgs84(*BEIGAN, crs), crs) == pytest.approx(BEIGAN, abs=1e-9)


def test_to_wgs84_rejects_swapped_or_projected_coordinates():
    with pytest.raises(InvalidInput) as caught:
        to_wgs84(BEIGAN[1], BEIGAN[0], "gcj02", field="location")
    assert caught.value.field == "location"
    assert "longitude first" in (caught.value.fix or "")
    with pytest.raises(InvalidInput):
        to_wgs84(526_004.2, 3_340_097.9, "wgs84")
    with pytest.raises(InvalidInput):
        to_wgs84(40_526_004.2, 3_340_097.9, "EPSG:4549")  # zone-prefixed easting
    with pytest.raises(InvalidInput, match="area of use"):
        to_wgs84(*BEIGAN, "EPSG:4549")  # lon/lat sent as Gauss-Kruger metres


def test_to_wgs84_keeps_missing_values_missing():
    lon, lat = to_wgs84([np.nan, 526_004.2], [np.nan, 3_340_097.9], "EPSG:4549")
    assert np.isnan(lon[0]) and np.isnan(lat[0])
    assert lon[1] == pytest.approx(120.27, abs=1e-6)


def test_to_wgs84_rejects_unknown_crs():
    with pytest.raises(UnknownCRS):
        to_wgs84(*BEIGAN, "mars")


# --- geometries ------------------------------------------------------------------------

def test_geometries_to_wgs84_moves_every_vertex_by_the_inverse_offset():
    polygon = shapely.Polygon([(120.26, 30.17), (120.28, 30.17), (120.28, 30.19),
                               (120.26, 30.19)])
    [converted] = geometries_to_wgs84(np.array([polygon]), "gcj02")
    before = shapely.get_coordinates(polygon)
    after = shapely.get_coordinates(converted)
    expected = np.column_stack(gcj02_to_wgs84(before[:, 0], before[:, 1]))
    assert after.shape == before.shape
    assert np.array_equal(after, expected)
    assert (metres(before[:, 0], before[:, 1], after[:, 0], after[:, 1]) > 400).all()
    [back] = geometries_from_wgs84(np.array([converted]), GCJ02)
    assert np.allclose(shapely.get_coordinates(back), before, rtol=0, atol=1e-9)


def test_geometries_keep_shape_missing_entries_and_z():
    geoms = np.array([[shapely.Point(526_004.2, 3_340_097.9, 12.5), None]], dtype=object)
    converted = geometries_to_wgs84(geoms, "EPSG:4549")
    assert converted.shape == (1, 2)
    assert converted[0, 1] is None
    point = converted[0, 0]
    assert (point.x, point.y) == pytest.approx(BEIGAN, abs=1e-6)
    assert point.z == 12.5


# --- detection helpers -----------------------------------------------------------------

def test_looks_like_lonlat_flags_projected_and_non_finite_values():
    ok = looks_like_lonlat([120.27, 526_004.2, np.nan, -180.0], [30.18, 3_340_097.9, 30.0, -90.0])
    assert ok.tolist() == [True, False, False, True]
    assert looks_like_lonlat(*BEIGAN) is True
    assert looks_like_lonlat(BEIGAN[0], 120.0) is False


def test_in_china_bbox():
    assert in_china_bbox(*BEIGAN) is True
    inside = in_china_bbox([120.27, -0.1276, np.nan], [30.18, 51.5072, 30.0])
    assert inside.tolist() == [True, False, False]
