"""Foreign keys checked once per bulk load instead of once per row.

PostgreSQL checks a foreign key with a trigger call per inserted row, queued until the end of
the statement: 100,000 buildings with their three keys (street, grid, estate) pay ~1.1 s for
it after the last row is sent, with nothing to overlap it. :func:`keys_checked_once` runs a
load with ``session_replication_role = replica``, which skips those per-row triggers, and then
checks each key once, over the distinct values the load wrote, locking the referenced rows
``FOR KEY SHARE`` as the triggers would (so that no one deletes them before the commit).

It does so only when that is the same check: the connection may set the parameter (a
superuser, or ``GRANT SET ON PARAMETER session_replication_role``), every trigger on the table
belongs to a foreign key, and every foreign key is a single column the load writes. Otherwise
the load runs as usual, with PostgreSQL's own per-row checks.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.errors import Conflict

logger = logging.getLogger(__name__)

Rows = Sequence[Sequence[object]]

_ALLOWED = """
    SELECT has_parameter_privilege('session_replication_role', 'SET')
       AND NOT EXISTS (SELECT 1 FROM pg_trigger t
                       LEFT JOIN pg_constraint c ON c.oid = t.tgconstraint
                       WHERE t.tgrelid = CAST(:table AS regclass)
                       AND c.contype IS DISTINCT FROM 'f'
                       AND t.tgenabled <> 'D')"""
_FOREIGN_KEYS = """
    SELECT c.conname, cardinality(c.conkey), a.attname, CAST(c.confrelid AS regclass)::text,
           quote_ident(f.attname)
    FROM pg_constraint c
    JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]
    JOIN pg_attribute f ON f.attrelid = c.confrelid AND f.attnum = c.confkey[1]
    WHERE c.conrelid = CAST(:table AS regclass) AND c.contype = 'f'"""


@dataclass(frozen=True)
class ForeignKey:
    """A single-column foreign key: ``column`` of the loaded table references
    ``table.key`` (``table`` and ``key`` quoted as identifiers)."""

    name: str
    column: str
    table: str
    key: str


@dataclass
class KeyCheck:
    """The distinct values a load writes to each foreign key column, checked at its end."""

    keys: list[ForeignKey]
    columns: Sequence[str]
    seen: dict[str, set[object]] = field(default_factory=dict)

    def noting(self, chunks: Iterable[Rows]) -> Iterator[Rows]:
        """Pass ``chunks`` of rows (in ``columns`` order) through, noting their key values."""
        positions = {key.name: self.columns.index(key.column) for key in self.keys}
        for chunk in chunks:
            for name, position in positions.items():
                self.seen.setdefault(name, set()).update(row[position] for row in chunk)
            yield chunk

    def verify(self, session: Session) -> None:
        """Lock the rows the load references, as PostgreSQL's checks would; raise
        :class:`Conflict` naming the first key whose values are not all there."""
        for key in self.keys:
            values = self.seen.get(key.name, set()) - {None}
            if not values:
                continue
            found = set(session.scalars(text(
                f"SELECT {key.key} FROM {key.table} WHERE {key.key} = ANY(:values) "
                f"FOR KEY SHARE"), {"values": sorted(values)}))  # type: ignore[type-var]
            missing = sorted(values - found)  # type: ignore[type-var]
            if missing:
                shown = ", ".join(map(str, missing[:10]))
                raise Conflict(f"{key.column} {shown} is not in {key.table} (removed while "
                               "loading?); nothing was loaded", field=key.column,
                               fix="run the import again")


def foreign_keys(session: Session, table: str, columns: Sequence[str]) -> list[ForeignKey] | None:
    """The table's foreign keys when all can be checked set-wise for a load writing
    ``columns``, else None (the load keeps PostgreSQL's per-row checks)."""
    if not session.scalar(text(_ALLOWED), {"table": table}):
        return None
    keys = []
    for name, arity, column, referenced, key in session.execute(text(_FOREIGN_KEYS),
                                                                {"table": table}):
        if arity != 1 or column not in columns:
            return None
        keys.append(ForeignKey(name, column, referenced, key))
    return keys


@contextmanager
def keys_checked_once(session: Session, table: str,
                      columns: Sequence[str]) -> Iterator[KeyCheck | None]:
    """Load into ``table`` without per-row foreign key triggers, checking the keys once
    when the block ends; yields the :class:`KeyCheck` to pass the rows through, or None when
    the load must keep the per-row checks (see the module docstring).

    Use it inside a savepoint or transaction that an error rolls back: the setting then
    reverts with it.
    """
    keys = foreign_keys(session, table, columns)
    if keys is None:
        logger.info("loading %s with per-row foreign key checks", table)
        yield None
        return
    before = session.scalar(text("SELECT current_setting('session_replication_role')"))
    session.execute(text("SET LOCAL session_replication_role = replica"))
    check = KeyCheck(keys, columns)
    yield check
    session.execute(text("SELECT set_config('session_replication_role', :before, true)"),
                    {"before": before})
    check.verify(session)
