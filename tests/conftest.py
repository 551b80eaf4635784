"""Test setup: a fresh PostGIS database per run, migrated, with the Beigan demo loaded; each
test runs inside a transaction that is rolled back.

If the database cannot be reached the tests skip locally and fail under CI=true (run
`make test`, which starts the private cluster first).
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Connection, Engine, create_engine, make_url, text
from sqlalchemy.orm import Session

from api.app import create_app
from api.deps import get_session
from geo import migrate
from geo.db import database_url, make_engine, transaction
from geo.demo import load_demo
from geo.settings import Settings, get_settings

IN_CI = bool(os.environ.get("CI"))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Under CI a skipped test hides something missing (the database): fail the run."""
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = len(reporter.stats.get("skipped", [])) if reporter else 0
    if IN_CI and skipped and exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
        if reporter:
            reporter.write_line(f"CI: {skipped} test(s) skipped; failing the run", red=True)


def recreate_database(server_url: str, name: str) -> str:
    """Drop and create database ``name`` on the server of ``server_url``; returns its URL."""
    url = make_url(server_url)
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as error:
        message = f"PostGIS test database unavailable ({error}); run `make test`"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)  # locally only: under CI the line above fails instead
    finally:
        admin.dispose()
    return url.set(database=name).render_as_string(hide_password=False)


def drop_database(server_url: str, name: str) -> None:
    admin = create_engine(make_url(server_url).set(database="postgres"),
                          isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def settings() -> Iterator[Settings]:
    """Settings pointing at a database of this run's own (runs may overlap)."""
    base = Settings()
    name = f"{base.db_name}_test_{os.getpid()}"
    test_url = recreate_database(database_url(base), name)
    yield base.model_copy(update={"database_url": test_url, "locator_refresh_s": 0.0,
                                  "locator_warm": False})
    drop_database(database_url(base), name)


@pytest.fixture(scope="session")
def engine(settings: Settings) -> Iterator[Engine]:
    engine = make_engine(settings)
    migrate.upgrade(engine)
    with engine.connect() as connection:
        postgis = connection.execute(text(
            "SELECT extversion FROM pg_extension WHERE extname = 'postgis'")).scalar()
    assert postgis, "the test database has no PostGIS extension"
    with transaction(engine) as session:
        load_demo(session)
    yield engine
    engine.dispose()


@pytest.fixture
def connection(engine: Engine) -> Iterator[Connection]:
    with engine.connect() as connection:
        outer = connection.begin()
        yield connection
        outer.rollback()


@pytest.fixture
def session(connection: Connection) -> Iterator[Session]:
    with Session(bind=connection, join_transaction_mode="create_savepoint") as session:
        yield session


@pytest.fixture
def test_database(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Point a command's own settings (read from the environment) at the test database: for
    CLI tests of commands that commit nothing (a command's commit would stay)."""
    assert settings.database_url
    monkeypatch.setenv("DATABASE_URL", settings.database_url)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.fixture
def client(settings: Settings, session: Session) -> Iterator[TestClient]:
    app = create_app(settings)
    app.dependency_overrides[get_session] = lambda: session
    with TestClient(app) as test_client:
        yield test_client
