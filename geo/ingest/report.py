"""The validation report: findings with where they are, as JSON or a terminal table."""

from __future__ import annotations

import logging
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Literal

import geopandas as gpd

logger = logging.getLogger(__name__)

Severity = Literal["error", "warning"]
_COLUMNS = ("severity", "check", "id", "row", "lon, lat", "message")


@dataclass(frozen=True, slots=True)
class Finding:
    """One problem with one feature (or with the file, when ``feature_id`` and ``row`` are None).

    Attributes
    ----------
    severity : {"error", "warning"}
        Errors block the import; warnings are shown and let it go ahead.
    check : str
        What was checked, e.g. ``geometry_invalid``, ``overlap``, ``id_duplicate``.
    feature_id : str or None
        The feature's code, when it has one.
    message : str
        What is wrong and, where it helps, what to do.
    lon, lat : float or None
        WGS84 point on the feature (or on the overlap, gap or part at fault).
    row : int or None
        The feature's 1-based position in the file, for features without a usable code.
    """

    severity: Severity
    check: str
    feature_id: str | None
    message: str
    lon: float | None = None
    lat: float | None = None
    row: int | None = None

    def to_json(self) -> dict[str, Any]:
        """The finding as a JSON-ready dict (coordinates rounded to 7 decimals, ~1 cm)."""
        return {"severity": self.severity, "check": self.check, "feature_id": self.feature_id,
                "row": self.row, "message": self.message,
                "lon": None if self.lon is None else round(self.lon, 7),
                "lat": None if self.lat is None else round(self.lat, 7)}


@dataclass
class Report:
    """What :func:`geo.ingest.validate.validate` found, and the frame it repaired.

    Attributes
    ----------
    kind : str
        ``communities``, ``grids`` or ``buildings``.
    frame : GeoDataFrame
        The input with repaired geometries (MultiPolygon wherever usable); for buildings
        checked against grids, a ``grid_code`` column holds the grid with the largest share.
    findings : list of Finding
        Errors first, then warnings, each in check order.
    seconds : float
        Time the validation took.
    """

    kind: str
    frame: gpd.GeoDataFrame
    findings: list[Finding] = field(default_factory=list)
    seconds: float = 0.0

    def __post_init__(self) -> None:
        self.findings.sort(key=lambda f: f.severity != "error")

    @property
    def errors(self) -> int:
        """Number of error findings."""
        return sum(f.severity == "error" for f in self.findings)

    @property
    def warnings(self) -> int:
        """Number of warning findings."""
        return len(self.findings) - self.errors

    @property
    def ok(self) -> bool:
        """True when nothing blocks the import (warnings allowed)."""
        return self.errors == 0

    @property
    def features(self) -> int:
        """Number of features validated."""
        return len(self.frame)

    @property
    def counts(self) -> dict[str, dict[str, int]]:
        """Findings per severity and check: ``{"error": {"overlap": 2}, "warning": {...}}``."""
        out: dict[str, dict[str, int]] = {"error": {}, "warning": {}}
        for (severity, check), n in Counter((f.severity, f.check) for f in self.findings).items():
            out[severity][check] = n
        return out

    def summary(self) -> str:
        """One line: what was validated and whether it can be imported."""
        verdict = "can be imported" if self.ok else "cannot be imported until the errors are fixed"
        return (f"{self.kind}: {self.features} features, {_plural(self.errors, 'error')}, "
                f"{_plural(self.warnings, 'warning')}; {verdict}.")

    def to_json(self) -> dict[str, Any]:
        """The report as a JSON-ready dict (``--report-json``, the HTTP endpoint)."""
        return {"kind": self.kind, "features": self.features, "ok": self.ok,
                "errors": self.errors, "warnings": self.warnings, "counts": self.counts,
                "seconds": round(self.seconds, 3),
                "findings": [f.to_json() for f in self.findings]}

    def to_table(self, limit: int | None = 200) -> str:
        """A plain aligned text table for the terminal, errors first.

        Parameters
        ----------
        limit : int or None
            Rows shown at most; the rest are counted on a last line. None shows all.
        """
        shown = self.findings if limit is None else self.findings[:limit]
        rows = [_COLUMNS] + [_cells(f) for f in shown]
        widths = [max(_width(row[i]) for row in rows) for i in range(len(_COLUMNS) - 1)]
        lines = [self.summary()]
        if shown:
            lines += ["  ".join(_pad(cell, w) for cell, w in zip(row, widths, strict=False))
                      + "  " + row[-1] for row in rows]
        if len(shown) < len(self.findings):
            lines.append(f"... and {len(self.findings) - len(shown)} more findings "
                         "(see the JSON report for all).")
        return "\n".join(line.rstrip() for line in lines)


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _cells(finding: Finding) -> tuple[str, ...]:
    where = "" if finding.lon is None or finding.lat is None else (
        f"{finding.lon:.6f}, {finding.lat:.6f}")
    return (finding.severity, finding.check, finding.feature_id or "",
            "" if finding.row is None else str(finding.row), where, finding.message)


def _width(text: str) -> int:
    """Terminal columns: CJK characters take two."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def _pad(text: str, width: int) -> str:
    return text + " " * (width - _width(text))
