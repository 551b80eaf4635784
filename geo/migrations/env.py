"""Alembic environment: migrates the connection it is handed, else gridmap's database."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from geo.db import make_engine
from geo.models import Base
from geo.settings import get_settings

target_metadata = Base.metadata


def run(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=target_metadata,
                      transaction_per_migration=False)
    with context.begin_transaction():
        context.run_migrations()


connection = context.config.attributes.get("connection")
if connection is not None:
    run(connection)
else:
    engine = make_engine(get_settings())
    with engine.connect() as own_connection:
        run(own_connection)
        own_connection.commit()
    engine.dispose()
