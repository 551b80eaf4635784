"""``gridmap import|export|generation|locate``: the GIS admin's commands."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from sqlalchemy import select

from geo import registry
from geo.db import make_engine, transaction
from geo.errors import InvalidInput, NotFound
from geo.ingest.commit import ImportRequest, run_import
from geo.ingest.export import EXPORTS, export_layer
from geo.ingest.fields import KINDS, FieldMap
from geo.models import Generation
from geo.settings import Settings

FIELD_OPTIONS = [name for name in FieldMap.__dataclass_fields__]


def import_layer(args: argparse.Namespace, settings: Settings) -> int:
    """Validate a file (dry run) or, with --commit, load it all or nothing."""
    report_json = _writable(args.report_json, "report-json") if args.report_json else None
    fields = FieldMap(**{name: getattr(args, name) for name in FIELD_OPTIONS})
    request = ImportRequest(kind=args.kind, path=Path(args.file), street_code=args.street,
                            layer=args.layer, crs=args.crs, encoding=args.encoding,
                            fields=fields, generation=args.generation, commit=args.commit)
    with transaction(make_engine(settings)) as session:
        result = run_import(session, request)
    print(result.report.to_table())
    if report_json:
        report_json.write_text(json.dumps(result.to_json(), ensure_ascii=False, indent=2),
                               encoding="utf-8")
    if result.committed:
        where = f" into generation {result.generation}" if result.generation else ""
        print(f"committed: {result.inserted} inserted, {result.updated} updated{where}")
        if result.generation:
            print(f"activate it with: gridmap generation activate {result.generation}")
    elif args.commit:
        print("nothing loaded: fix the errors above and run again", file=sys.stderr)
    else:
        print("dry run: nothing loaded (add --commit to load)")
    return 0 if result.report.ok else 1


def _writable(name: str, option: str) -> Path:
    """``name`` as a path a file can be written to, checked before the import runs (the
    report is written after it)."""
    path = Path(name)
    if path.is_dir() or not path.parent.is_dir() or not os.access(path.parent, os.W_OK):
        raise InvalidInput(f"cannot write {path}: its folder does not exist or is not "
                           "writable (or it is a folder)", field=option,
                           fix="name a file in a writable folder")
    return path


def export(args: argparse.Namespace, settings: Settings) -> int:
    """Write a layer to .geojson or .gpkg."""
    with transaction(make_engine(settings)) as session:
        count = export_layer(session, args.layer, Path(args.file), street_code=args.street,
                             generation=args.generation)
    print(f"exported {count} {args.layer} to {args.file}")
    return 0


def generation_list(args: argparse.Namespace, settings: Settings) -> int:
    with transaction(make_engine(settings)) as session:
        for generation in session.scalars(select(Generation).where(
                Generation.street_code == args.street).order_by(Generation.number)):
            state = "active" if generation.active else (
                "earlier" if generation.activated_at else "new")
            print(f"{generation.number:>3}  {state:<7}  {generation.label}  "
                  f"({generation.created_at:%Y-%m-%d %H:%M})")
    return 0


def generation_activate(args: argparse.Namespace, settings: Settings) -> int:
    """Make a generation active: buildings move to its grids; what moved is recorded."""
    with transaction(make_engine(settings)) as session:
        generation = session.scalar(select(Generation).where(
            Generation.street_code == args.street, Generation.number == args.number))
        if generation is None:
            raise NotFound(f"street {args.street} has no generation {args.number}",
                           field="number", fix="see `gridmap generation list`")
        moved = registry.activate_generation(session, generation)
    print(f"generation {args.number} is active; {moved} buildings changed grid "
          "(recorded in reassignment)")
    return 0


def locate(args: argparse.Namespace, settings: Settings) -> int:
    """Geolocate every row of a CSV or Parquet file of points (millions are fine)."""
    from geo.db import make_session_factory
    from geo.locate_bulk import locate_file

    sessions = make_session_factory(make_engine(settings))
    rows = locate_file(sessions, settings, Path(args.file), Path(args.out), lon_col=args.lon_col,
                       lat_col=args.lat_col, crs=args.crs)
    print(f"located {rows} rows into {args.out}")
    return 0


def add_commands(commands: argparse._SubParsersAction, settings_street: str) -> None:
    """Register this module's commands on the ``gridmap`` parser."""
    importing = commands.add_parser("import", help=import_layer.__doc__)
    importing.add_argument("kind", choices=KINDS)
    importing.add_argument("file")
    importing.add_argument("--layer")
    importing.add_argument("--crs", help="wgs84, gcj02, bd09, cgcs2000 or EPSG:NNNN")
    importing.add_argument("--encoding", help="attribute encoding when the file lacks it")
    for name in FIELD_OPTIONS:
        importing.add_argument(f"--{name.replace('_', '-')}", dest=name)
    importing.add_argument("--generation", type=int, help="generation for grids")
    importing.add_argument("--commit", action="store_true", help="load (else a dry run)")
    importing.add_argument("--report-json", help="also write the report as JSON here")
    importing.set_defaults(handler=import_layer)

    exporting = commands.add_parser("export", help=export.__doc__)
    exporting.add_argument("layer", choices=list(EXPORTS))
    exporting.add_argument("file")
    exporting.add_argument("--generation", type=int)
    exporting.set_defaults(handler=export)

    generations = commands.add_parser("generation", help="boundary generations")
    actions = generations.add_subparsers(dest="action", required=True)
    actions.add_parser("list").set_defaults(handler=generation_list)
    activate = actions.add_parser("activate", help=generation_activate.__doc__)
    activate.add_argument("number", type=int)
    activate.set_defaults(handler=generation_activate)

    locating = commands.add_parser("locate", help=locate.__doc__)
    locating.add_argument("file", help=".csv or .parquet")
    locating.add_argument("--out", required=True, help=".csv or .parquet")
    locating.add_argument("--lon-col", default="lon")
    locating.add_argument("--lat-col", default="lat")
    locating.add_argument("--crs", default="wgs84", help="wgs84, gcj02, bd09, EPSG:NNNN")
    locating.set_defaults(handler=locate)

    for parser in (importing, exporting, generations):
        parser.add_argument("--street", default=settings_street, help="9-digit street code")
