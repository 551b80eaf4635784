"""The ``gridmap`` command: database lifecycle, demo data, serving the app."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Sequence

from sqlalchemy.exc import OperationalError

from geo import pgcluster
from geo.cli_data import add_commands
from geo.db import database_url, make_engine, postgis_version, private_cluster, transaction
from geo.errors import GridmapError
from geo.settings import Settings, get_settings

Handler = Callable[[argparse.Namespace, Settings], int]


def db_up(args: argparse.Namespace, settings: Settings) -> int:
    """Start the private cluster (unless DATABASE_URL is set) and migrate to head."""
    from geo import migrate  # Alembic is slow to import: only for these commands

    if not settings.database_url:
        pgcluster.up(private_cluster(settings))
    engine = make_engine(settings)
    migrate.upgrade(engine)
    server, postgis = postgis_version(engine)
    print(f"database ready: PostgreSQL {server}, PostGIS {postgis}")
    print(f"  {_safe_url(settings)}")
    return 0


def db_down(args: argparse.Namespace, settings: Settings) -> int:
    if settings.database_url:
        print("DATABASE_URL is set: that database is not gridmap's to stop")
        return 0
    pgcluster.down(private_cluster(settings))
    print("private cluster stopped")
    return 0


def db_status(args: argparse.Namespace, settings: Settings) -> int:
    print(f"database: {_safe_url(settings)}")
    if not settings.database_url and not pgcluster.is_running(private_cluster(settings)):
        print("private cluster: stopped (run `gridmap db up`)")
        return 1
    server, postgis = postgis_version(make_engine(settings))
    print(f"running: PostgreSQL {server}, PostGIS {postgis}")
    return 0


def db_reset(args: argparse.Namespace, settings: Settings) -> int:
    """Empty the database and migrate it again from nothing."""
    from geo import migrate

    if settings.database_url:
        migrate.downgrade(make_engine(settings))
    else:
        cluster = private_cluster(settings)
        pgcluster.up(cluster)
        pgcluster.create_database(cluster, cluster.db_name, drop_first=True)
    migrate.upgrade(make_engine(settings))
    print("database reset and migrated to head")
    return 0


def db_migrate(args: argparse.Namespace, settings: Settings) -> int:
    from geo import migrate

    step = migrate.downgrade if args.down else migrate.upgrade
    step(make_engine(settings), args.revision)
    print(f"migrated {'down' if args.down else 'up'} to {args.revision}")
    return 0


def demo_load(args: argparse.Namespace, settings: Settings) -> int:
    """Load the synthetic Beigan demo (idempotent)."""
    from geo.demo import load_demo

    with transaction(make_engine(settings)) as session:
        result = load_demo(session)
    if result.loaded:
        print(f"Beigan demo loaded: {result.communities} communities, {result.grids} grids, "
              f"{result.estates} estates, {result.buildings} buildings")
    else:
        print("Beigan demo already loaded; nothing changed")
    return 0


def serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    uvicorn.run("api.app:create_app", factory=True, host=args.host, port=args.port,
                workers=args.workers, log_level="info")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gridmap", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    db = commands.add_parser("db", help="the database").add_subparsers(dest="action",
                                                                       required=True)
    for name, handler in [("up", db_up), ("down", db_down), ("status", db_status),
                          ("reset", db_reset)]:
        db.add_parser(name, help=(handler.__doc__ or "").strip()).set_defaults(handler=handler)
    migrate_parser = db.add_parser("migrate", help="run Alembic migrations")
    migrate_parser.add_argument("revision", nargs="?", default="head")
    migrate_parser.add_argument("--down", action="store_true", help="downgrade to REVISION")
    migrate_parser.set_defaults(handler=db_migrate)

    demo = commands.add_parser("demo", help="demo data").add_subparsers(dest="action",
                                                                        required=True)
    demo.add_parser("load", help=demo_load.__doc__).set_defaults(handler=demo_load)

    serve_parser = commands.add_parser("serve", help="serve the HTTP API")
    serve_parser.add_argument("--host", default="127.0.0.1")
    serve_parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
    serve_parser.add_argument("--workers", type=int, default=1)
    serve_parser.set_defaults(handler=serve)
    add_commands(commands, get_settings().street_code)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)  # one line a plugin
    args = build_parser().parse_args(argv)
    handler: Handler = args.handler
    try:
        return handler(args, get_settings())
    except GridmapError as error:
        print(f"error: {error.detail}", file=sys.stderr)
        if error.fix:
            print(f"fix: {error.fix}", file=sys.stderr)
        return 2
    except OperationalError as error:
        print(f"error: cannot reach the database: {error.orig}", file=sys.stderr)
        print("fix: run `gridmap db up` (or check DATABASE_URL)", file=sys.stderr)
        return 2


def _safe_url(settings: Settings) -> str:
    url = database_url(settings)
    scheme, _, rest = url.partition("://")
    credentials, at, location = rest.rpartition("@")
    return f"{scheme}://{credentials.split(':')[0]}{at}{location}" if at else url


if __name__ == "__main__":
    sys.exit(main())
