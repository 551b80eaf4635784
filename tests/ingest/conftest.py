"""Fixtures for the import tests: the Beigan demo layers, and survey files written on the fly.

Every file is written into ``tmp_path`` from the synthetic Beigan demo (see ``data/README.md``),
so no fixture file needs committing.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import geopandas as gpd
import pytest
import shapely

from data.beigan import BeiganDemo, generate
from geo.ingest.fields import normalise


@pytest.fixture(scope="session")
def demo() -> BeiganDemo:
    return generate()


@pytest.fixture(scope="session")
def street(demo: BeiganDemo) -> shapely.Geometry:
    return demo.street.geometry.iloc[0]


@pytest.fixture(scope="session")
def communities(demo: BeiganDemo) -> gpd.GeoDataFrame:
    return normalise("communities", demo.communities)


@pytest.fixture(scope="session")
def grids(demo: BeiganDemo) -> gpd.GeoDataFrame:
    return normalise("grids", demo.grids)


@pytest.fixture(scope="session")
def buildings(demo: BeiganDemo) -> gpd.GeoDataFrame:
    return normalise("buildings", demo.buildings)


def zip_folder(folder: Path, target: Path, prefix: str = "") -> Path:
    """Zip every file of ``folder`` into ``target`` (members under ``prefix``)."""
    with zipfile.ZipFile(target, "w") as archive:
        for path in sorted(folder.iterdir()):
            archive.write(path, prefix + path.name)
    return target


@pytest.fixture
def communities_geojson(tmp_path: Path, demo: BeiganDemo) -> Path:
    path = tmp_path / "communities.geojson"
    demo.communities.to_file(path, engine="pyogrio")
    return path


@pytest.fixture
def truncated_geojson(communities_geojson: Path) -> Path:
    text = communities_geojson.read_text(encoding="utf-8")
    communities_geojson.write_text(text[: len(text) // 2], encoding="utf-8")
    return communities_geojson


@pytest.fixture
def empty_geojson(tmp_path: Path) -> Path:
    path = tmp_path / "empty.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": []}))
    return path


@pytest.fixture
def zip_without_shp(tmp_path: Path) -> Path:
    path = tmp_path / "survey.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("readme.txt", "boundaries of Beigan")
        archive.writestr("grids.dbf", b"\x03")
    return path


@pytest.fixture
def gbk_shapefile(tmp_path: Path, demo: BeiganDemo) -> Path:
    """A folder holding communities.shp with a GBK attribute table and a .cpg saying so."""
    folder = tmp_path / "gbk"
    folder.mkdir()
    demo.communities.to_file(folder / "communities.shp", encoding="GBK", engine="pyogrio")
    assert (folder / "communities.cpg").read_text().strip().upper() == "GBK"
    return folder


@pytest.fixture
def gbk_shapefile_without_cpg(gbk_shapefile: Path) -> Path:
    (gbk_shapefile / "communities.cpg").unlink()
    return gbk_shapefile


@pytest.fixture
def gk_shapefile_without_prj(tmp_path: Path, demo: BeiganDemo) -> Path:
    """Communities in CGCS2000 Gauss-Kruger metres (EPSG:4549), written with no CRS."""
    folder = tmp_path / "gk"
    folder.mkdir()
    metres = demo.communities.to_crs(4549).set_crs(None, allow_override=True)
    metres.to_file(folder / "communities.shp", engine="pyogrio")
    assert not (folder / "communities.prj").exists()
    return folder / "communities.shp"


@pytest.fixture
def shapefile_folder(tmp_path: Path, demo: BeiganDemo) -> Path:
    folder = tmp_path / "shp"
    folder.mkdir()
    demo.grids.to_file(folder / "grids.shp", engine="pyogrio")
    return folder


def damage_zip_member(path: Path, member: str, *, encrypt: bool = False) -> Path:
    """Garble ``member``'s data in the zip at ``path``, or mark it encrypted (zipfile can
    write neither); returns ``path``."""
    with zipfile.ZipFile(path) as archive:
        offset = archive.getinfo(member).header_offset
    data = bytearray(path.read_bytes())
    if encrypt:
        data[offset + 6] |= 0x01  # local header: general purpose flags, bit 0 = encrypted
        central = data.find(b"PK\x01\x02")
        while central >= 0:
            length = int.from_bytes(data[central + 28:central + 30], "little")
            if data[central + 46:central + 46 + length] == member.encode():
                data[central + 8] |= 0x01
            central = data.find(b"PK\x01\x02", central + 46)
    else:
        start = offset + 30 + sum(int.from_bytes(data[offset + k:offset + k + 2], "little")
                                  for k in (26, 28))  # after the name and extra field
        data[start:start + 16] = bytes(b ^ 0xFF for b in data[start:start + 16])
    path.write_bytes(bytes(data))
    return path


LOCAL_CS = ('LOCAL_CS["Beigan site grid",LOCAL_DATUM["site",0],UNIT["metre",1],'
            'AXIS["X",EAST],AXIS["Y",NORTH]]')
"""A site grid: an engineering CRS, which no transformation ties to longitude/latitude."""


def local_crs_shapefile(folder: Path, demo: BeiganDemo) -> Path:
    """communities.shp in ``folder``: EPSG:4549 metres, its .prj a local CRS (LOCAL_CS)."""
    demo.communities.to_crs(4549).to_file(folder / "communities.shp", engine="pyogrio")
    (folder / "communities.prj").write_text(LOCAL_CS)
    return folder / "communities.shp"
