"""Alembic migrations go all the way down and back up on a real PostGIS."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy import create_engine, inspect, text

from geo import migrate
from geo.settings import Settings
from tests.conftest import drop_database, recreate_database

ROOT = Path(__file__).resolve().parents[2]
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


def test_the_alembic_command_goes_down_to_base_and_back_to_head(settings: Settings) -> None:
    """As the README has it: `alembic downgrade base && alembic upgrade head`, with the
    database taken from DATABASE_URL by alembic.ini's environment."""
    name = f"{settings.db_name}_alembic_{os.getpid()}"
    url = recreate_database(str(settings.database_url), name)
    env = {**os.environ, "DATABASE_URL": url}
    alembic = [str(Path(sys.executable).parent / "alembic"), "-c", str(ROOT / "alembic.ini")]
    engine = create_engine(url)
    try:
        for step in (["upgrade", "head"], ["downgrade", "base"]):
            subprocess.run([*alembic, *step], env=env, cwd=ROOT, check=True,
                           capture_output=True)
        assert not REGISTRY & set(inspect(engine).get_table_names())
        subprocess.run([*alembic, "upgrade", "head"], env=env, cwd=ROOT, check=True,
                       capture_output=True)
        assert set(inspect(engine).get_table_names()) >= REGISTRY
        current = subprocess.run([*alembic, "current"], env=env, cwd=ROOT, check=True,
                                 capture_output=True, text=True).stdout
        assert migrate_head() in current
    finally:
        engine.dispose()
        drop_database(str(settings.database_url), name)
