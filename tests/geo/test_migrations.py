"""Alembic migrations go all the way down and back up on a real PostGIS."""

from __future__ import annotations

import os

from sqlalchemy import create_engine, inspect, text

from geo import migrate
from geo.settings import Settings
from tests.conftest import drop_database, recreate_database

REGISTRY = {"street", "generation", "community", "officer", "grid", "estate", "building"}


def test_downgrade_base_then_upgrade_head(settings: Settings) -> None:
    name = f"{settings.db_name}_migrations_{os.getpid()}"
    url = recreate_database(str(settings.database_url), name)
    engine = create_engine(url)
    try:
        migrate.upgrade(engine)
        assert set(inspect(engine).get_table_names()) >= REGISTRY
        migrate.downgrade(engine, "base")
        assert not REGISTRY & set(inspect(engine).get_table_names())
        migrate.upgrade(engine, "head")
        assert set(inspect(engine).get_table_names()) >= REGISTRY
        with engine.connect() as connection:
            version = connection.execute(text("SELECT version_num FROM alembic_version"))
            assert version.scalar_one() == migrate_head()
    finally:
        engine.dispose()
        drop_database(str(settings.database_url), name)


def migrate_head() -> str:
    from alembic.script import ScriptDirectory

    return str(ScriptDirectory.from_config(migrate.alembic_config()).get_current_head())
