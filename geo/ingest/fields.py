"""Map a survey file's attribute columns to gridmap's, guessing common names, and clean values."""

from __future__ import annotations

import dataclasses
import logging
import re
from dataclasses import dataclass
from typing import Literal, get_args

import geopandas as gpd
import numpy as np
import pandas as pd

from geo.errors import InvalidInput
from geo.ingest.values import as_text, building_uses, community_kinds, numbers

logger = logging.getLogger(__name__)

Kind = Literal["communities", "grids", "buildings"]
KINDS: tuple[Kind, ...] = get_args(Kind)


@dataclass(frozen=True, slots=True)
class FieldMap:
    """The file's column for each gridmap attribute; None means guess from common names.

    Each attribute is also a CLI option: ``id_field`` is ``--id-field``.
    """

    id_field: str | None = None
    name_field: str | None = None
    parent_field: str | None = None
    height_field: str | None = None
    floors_field: str | None = None
    use_field: str | None = None
    address_field: str | None = None
    kind_field: str | None = None
    officer_field: str | None = None
    phone_field: str | None = None


@dataclass(frozen=True, slots=True)
class _Target:
    column: str
    option: str
    what: str
    required: bool
    names: tuple[str, ...]


_ID_TAIL = ("编码", "代码", "编号", "bm", "dm", "bh", "id")
_NAME_TAIL = ("名称", "mc")
_TARGETS: dict[Kind, tuple[_Target, ...]] = {
    "communities": (
        _Target("code", "id_field", "code (id)", True,
                ("code", "community_code", "社区编码", "社区代码", "村社编码", "村社代码", "sqbm",
                 "sqdm", *_ID_TAIL)),
        _Target("name", "name_field", "name", True,
                ("name", "community_name", "社区名称", "村社名称", "社区名", "sqmc", *_NAME_TAIL)),
        _Target("kind", "kind_field", "kind (社区/村)", False,
                ("kind", "type", "类型", "社区类型", "村社类型", "类别", "lx")),
    ),
    "grids": (
        _Target("code", "id_field", "code (id)", True,
                ("code", "grid_code", "grid_id", "网格编码", "网格代码", "网格编号", "wgbm", "wgdm",
                 "wgbh", *_ID_TAIL)),
        _Target("name", "name_field", "name", True,
                ("name", "grid_name", "网格名称", "网格名", "wgmc", *_NAME_TAIL)),
        _Target("community_code", "parent_field", "parent community code", True,
                ("community_code", "parent", "parent_code", "community", "社区编码", "社区代码",
                 "村社编码", "村社代码", "所属社区编码", "sqbm", "sqdm")),
        _Target("officer_name", "officer_field", "grid officer", False,
                ("officer_name", "officer", "网格员", "网格员姓名", "网格长", "负责人", "wgy")),
        _Target("officer_phone", "phone_field", "officer phone", False,
                ("officer_phone", "phone", "tel", "telephone", "mobile", "网格员电话", "联系电话",
                 "电话", "手机", "手机号", "lxdh")),
    ),
    "buildings": (
        _Target("code", "id_field", "code (id)", True,
                ("code", "building_code", "building_id", "bldg_id", "建筑编码", "楼栋编码",
                 "楼栋编号", "建筑编号", "房屋编码", "jzbm", "ldbm", *_ID_TAIL)),
        _Target("name", "name_field", "name", False,
                ("name", "building_name", "建筑名称", "楼栋名称", "楼名", "楼栋名", "jzmc",
                 *_NAME_TAIL)),
        _Target("address", "address_field", "address", False,
                ("address", "addr", "地址", "门牌地址", "门牌", "门牌号", "楼栋地址", "dz")),
        _Target("use", "use_field", "use", False,
                ("use", "usage", "building_use", "用途", "建筑用途", "房屋用途", "使用性质", "性质",
                 "yt")),
        _Target("height_m", "height_field", "height (m)", False,
                ("height_m", "height", "高度", "建筑高度", "楼高", "jzgd", "gd")),
        _Target("floors", "floors_field", "floors", False,
                ("floors", "floor", "storeys", "levels", "building_levels", "层数", "楼层",
                 "楼层数", "地上层数", "总层数", "cs")),
    ),
}
COLUMNS: dict[Kind, tuple[str, ...]] = {k: tuple(t.column for t in v) for k, v in _TARGETS.items()}
"""The columns :func:`normalise` returns for each kind, besides ``geometry``."""
_DBF_NAME_LIMIT = 10  # Shapefiles cut column names to 10 characters


def normalise(kind: Kind, frame: gpd.GeoDataFrame, fields: FieldMap | None = None,
              ) -> gpd.GeoDataFrame:
    """Map ``frame``'s columns to gridmap's for ``kind`` and clean their values.

    Parameters
    ----------
    kind : {"communities", "grids", "buildings"}
        What the file holds.
    frame : GeoDataFrame
        As :func:`geo.ingest.read.read_layer` returns it.
    fields : FieldMap, optional
        Columns named by the caller; the others are guessed from common names.

    Returns
    -------
    GeoDataFrame
        Exactly the columns in ``COLUMNS[kind]`` and ``geometry``. Codes and phones are
        stripped strings (numbers lose no digits: ``330109002041``, not ``3.30109002041e11``),
        missing values None; ``kind`` is 社区 or 村, ``use`` residential/public/mixed,
        ``height_m`` float (NaN unknown), ``floors`` Float64 as read (NA unknown;
        :func:`geo.ingest.validate.validate` checks each is a whole number of storeys in
        range and turns them into Int64). ``attrs`` are kept, with notes appended to
        ``attrs["warnings"]`` and the column mapping used in ``attrs["fields"]``.

    Raises
    ------
    InvalidInput
        A required column cannot be found (the message lists the file's columns), or a
        column named in ``fields`` does not exist.
    """
    if kind not in KINDS:
        raise InvalidInput(f"Unknown layer kind {kind!r}.", field="kind",
                           fix=f"Use one of: {', '.join(KINDS)}.")
    fields = fields or FieldMap()
    mapping = _match_columns(kind, frame, fields)
    notes: list[str] = []
    data = {t.column: _column_values(t.column, frame, mapping.get(t.column), notes)
            for t in _TARGETS[kind]}
    out = gpd.GeoDataFrame(data, geometry=frame.geometry.array, crs=frame.crs,
                           index=pd.RangeIndex(len(frame)))
    _fill_derived(kind, out, mapping, notes)
    out.attrs = {**frame.attrs, "warnings": [*frame.attrs.get("warnings", []), *notes],
                 "fields": mapping}
    return out


def _match_columns(kind: Kind, frame: gpd.GeoDataFrame, fields: FieldMap) -> dict[str, str]:
    """Return {gridmap column: file column}: named ones first, then guesses for the rest."""
    columns = [str(c) for c in frame.columns if c != frame.geometry.name]
    mapping: dict[str, str] = {}
    for target in _TARGETS[kind]:
        named = getattr(fields, target.option)
        if named is not None:
            mapping[target.column] = _named_column(named, target.option, columns)
    unused = [c for c in columns if c not in mapping.values()]
    for target in _TARGETS[kind]:
        if target.column in mapping:
            continue
        found = _guess(target.names, unused)
        if found is not None:
            mapping[target.column] = found
            unused.remove(found)
        elif target.required:
            raise _missing_column(kind, target, columns)
    unused_options = {f.name for f in dataclasses.fields(FieldMap)} - {
        t.option for t in _TARGETS[kind]}
    ignored = [o for o in sorted(unused_options) if getattr(fields, o) is not None]
    if ignored:
        logger.info("%s ignored for %s", ", ".join(ignored), kind)
    return mapping


def _key(name: str) -> str:
    return re.sub(r"[\s_\-]", "", name).lower()


def _named_column(named: str, option: str, columns: list[str]) -> str:
    if named in columns:
        return named
    folded = [c for c in columns if _key(c) == _key(named)]
    if len(folded) == 1:
        return folded[0]
    flag = "--" + option.replace("_", "-")
    raise InvalidInput(f"Column {named!r} ({flag}) is not in the file; its columns are: "
                       f"{', '.join(columns) or 'none'}.", field=option,
                       fix=f"Give {flag} one of the file's columns.")


def _guess(names: tuple[str, ...], columns: list[str]) -> str | None:
    keys = {_key(c): c for c in reversed(columns)}  # the first column wins a tie
    for name in names:
        if _key(name) in keys:
            return keys[_key(name)]
    for name in names:  # a Shapefile may have cut the name: community_code -> community_
        cut = name[:_DBF_NAME_LIMIT]
        for column in columns:
            if len(column) == _DBF_NAME_LIMIT and column.lower() == cut.lower():
                return column
    return None


def _missing_column(kind: Kind, target: _Target, columns: list[str]) -> InvalidInput:
    flag = "--" + target.option.replace("_", "-")
    return InvalidInput(
        f"The {kind} file has no {target.what} column (looked for {', '.join(target.names)}); "
        f"its columns are: {', '.join(columns) or 'none'}.", field=target.option,
        fix=f"Name the column with {flag} COLUMN.")


def _column_values(column: str, frame: gpd.GeoDataFrame, source: str | None,
                   notes: list[str]) -> pd.Series:
    n = len(frame)
    if source is None:
        if column == "height_m":
            return pd.Series(np.full(n, np.nan))
        if column == "floors":
            return pd.Series(pd.array([pd.NA] * n, dtype="Float64"))
        return pd.Series([None] * n, dtype=object)
    values = frame[source].reset_index(drop=True)
    if column == "height_m":
        return numbers(values, column=source, notes=notes)
    if column == "floors":  # as read: validation checks they are whole and in range
        return numbers(values, column=source, notes=notes).astype("Float64")
    return as_text(values)


def _fill_derived(kind: Kind, out: gpd.GeoDataFrame, mapping: dict[str, str],
                  notes: list[str]) -> None:
    """Fill what the file may leave out: a community's kind, a building's use and name."""
    if kind == "communities":
        out["kind"] = community_kinds(out["kind"], out["name"], notes)
    elif kind == "buildings":
        out["use"] = building_uses(out["use"], notes)
        unnamed = out["name"].isna()
        if unnamed.any():
            out.loc[unnamed, "name"] = out.loc[unnamed, "address"].where(
                out.loc[unnamed, "address"].notna(), out.loc[unnamed, "code"])
            what = "have no name" if "name" in mapping else "come with no name column"
            notes.append(f"{int(unnamed.sum())} buildings {what}: named by their address, "
                         "or their code when there is none.")
