"""Domain errors: raised by gridmap's core, mapped to RFC 9457 problems by the API in one place."""

from __future__ import annotations

from typing import Any


class GridmapError(Exception):
    """Base of every error gridmap raises on purpose.

    ``field`` names the input at fault (a query parameter, a column, a CLI option) and
    ``fix`` says what to do about it; both reach the user in the problem+json body.
    """

    title = "gridmap error"

    def __init__(self, detail: str, *, field: str | None = None, fix: str | None = None,
                 **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.field = field
        self.fix = fix
        self.extra = extra


class NotFound(GridmapError):
    """The requested feature, code or resource does not exist."""

    title = "Not found"


class InvalidInput(GridmapError):
    """A value was given but cannot be used as it is (bad bbox, bad coordinates, bad file)."""

    title = "Invalid input"


class UnknownCRS(InvalidInput):
    """A coordinate reference system name or EPSG code that gridmap cannot use."""

    title = "Unknown coordinate reference system"


class Conflict(GridmapError):
    """The request clashes with the current state (e.g. a generation already active)."""

    title = "Conflict"


class Unauthenticated(GridmapError):
    """The action needs credentials the caller did not give."""

    title = "Authentication required"


class Forbidden(GridmapError):
    """The caller may not do this."""

    title = "Forbidden"


class DatabaseUnavailable(GridmapError):
    """The database cannot be reached or lacks PostGIS."""

    title = "Database unavailable"
