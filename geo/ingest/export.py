"""Export a registry layer to a file that imports back as it was (GeoJSON or GeoPackage).

Exports are for GIS admins: unlike the public API they carry officers' phones.
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pyogrio.errors
import shapely
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.errors import InvalidInput

DRIVERS = {".geojson": "GeoJSON", ".json": "GeoJSON", ".gpkg": "GPKG"}

EXPORTS = {
    "communities": """
        SELECT c.code, c.name, c.kind, ST_AsBinary(c.geom) AS geometry
        FROM community c JOIN generation n ON n.id = c.generation_id
        WHERE c.street_code = :street AND {generation} ORDER BY c.code""",
    "grids": """
        SELECT g.code, g.name, c.code AS community_code, o.name AS officer_name,
               o.phone AS officer_phone, ST_AsBinary(g.geom) AS geometry
        FROM grid g JOIN community c ON c.id = g.community_id
        JOIN generation n ON n.id = g.generation_id LEFT JOIN officer o ON o.id = g.officer_id
        WHERE g.street_code = :street AND {generation} ORDER BY g.code""",
    "estates": """
        SELECT code, name, community_code, property_company, property_contact,
               owners_committee, ST_AsBinary(geom) AS geometry
        FROM estate WHERE street_code = :street ORDER BY code""",
    "buildings": """
        SELECT code, name, address, use, height_m, floors, ST_AsBinary(footprint) AS geometry
        FROM building WHERE street_code = :street ORDER BY code""",
}


def export_layer(session: Session, layer: str, path: Path, *, street_code: str,
                 generation: int | None = None) -> int:
    """Write ``layer`` of the street (communities and grids: the active generation unless
    ``generation`` is given) to ``path``; returns the number of features written."""
    if layer not in EXPORTS:
        raise InvalidInput(f"unknown layer {layer!r}", field="layer",
                           fix=f"choose one of {', '.join(EXPORTS)}")
    driver = DRIVERS.get(path.suffix.lower())
    if driver is None:
        raise InvalidInput(f"cannot export to {path.suffix or 'a file without extension'}",
                           field="file", fix="name the file .geojson or .gpkg")
    condition = "n.active" if generation is None else "n.number = :generation"
    rows = session.execute(text(EXPORTS[layer].format(generation=condition)),
                           {"street": street_code, "generation": generation}).mappings().all()
    columns = [key for key in (rows[0].keys() if rows else []) if key != "geometry"]
    frame = gpd.GeoDataFrame({c: [row[c] for row in rows] for c in columns},
                             geometry=shapely.from_wkb([bytes(r["geometry"]) for r in rows]),
                             crs=4326)
    try:
        if path.exists():
            path.unlink()
        frame.to_file(path, driver=driver, layer=layer if driver == "GPKG" else None,
                      engine="pyogrio")
    except (OSError, pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError) as error:
        raise InvalidInput(f"cannot write {path} ({error})", field="file",
                           fix="give a file path in a folder that exists and that you may "
                               "write to") from None
    return len(frame)
