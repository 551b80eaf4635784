"""Database access: the URL to use, one engine per process, sessions, PostGIS checks."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine, create_engine, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from geo import pgcluster
from geo.errors import DatabaseUnavailable
from geo.settings import Settings


def private_cluster(settings: Settings) -> pgcluster.Cluster:
    """The private cluster this checkout runs when DATABASE_URL is unset."""
    return pgcluster.cluster_for(settings.var_dir, settings.pg_port, settings.db_name)


def database_url(settings: Settings) -> str:
    """DATABASE_URL when set, else the private cluster's URL."""
    if settings.database_url:
        return settings.database_url.replace("postgresql://", "postgresql+psycopg://", 1)
    return private_cluster(settings).url()


def make_engine(settings: Settings, *, url: str | None = None) -> Engine:
    """The engine for this process (create it once, in the app's lifespan or the CLI)."""
    return create_engine(url or database_url(settings), pool_pre_ping=True, pool_size=10,
                         max_overflow=20)


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False)


@contextmanager
def transaction(engine: Engine) -> Iterator[Session]:
    """A session whose work commits on success and rolls back on any error."""
    with make_session_factory(engine)() as session, session.begin():
        yield session


def postgis_version(engine: Engine) -> tuple[str, str]:
    """(PostgreSQL version, PostGIS version); raises DatabaseUnavailable when either is missing."""
    try:
        with engine.connect() as connection:
            server = connection.execute(text("SHOW server_version")).scalar_one()
            postgis = connection.execute(text(
                "SELECT extversion FROM pg_extension WHERE extname = 'postgis'")).scalar()
    except OperationalError as error:
        raise DatabaseUnavailable(f"cannot connect to the database: {error.orig}",
                                  fix="run `gridmap db up` or check DATABASE_URL") from error
    if postgis is None:
        raise DatabaseUnavailable("the database has no PostGIS extension",
                                  fix="run `gridmap db migrate` (it creates the extension)")
    return str(server), str(postgis)
