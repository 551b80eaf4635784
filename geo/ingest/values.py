"""Clean attribute values from survey files: codes as text, numbers, community kinds, uses."""

from __future__ import annotations

import math
import re
from typing import Any

import numpy as np
import pandas as pd

_NUMBER = re.compile(r"([-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)")  # "1e+20" is not 1
_VILLAGE_ENDINGS = ("村", "村委会", "村委", "村民委员会")
_KINDS = {"社区": "社区", "community": "社区", "居委会": "社区", "社区居委会": "社区",
          "居民委员会": "社区", "社区居民委员会": "社区", "村": "村", "village": "村",
          "行政村": "村", "村委会": "村", "村民委员会": "村"}
_USES = {"residential": "residential", "public": "public", "mixed": "mixed",
         "住宅": "residential", "居住": "residential", "住宅楼": "residential",
         "民居": "residential", "农居": "residential", "农房": "residential",
         "宿舍": "residential", "公寓": "residential", "commercial": "public",
         "office": "public", "industrial": "public", "公建": "public", "公共": "public",
         "公共建筑": "public", "办公": "public", "商业": "public", "商办": "public",
         "教育": "public", "学校": "public", "医院": "public", "医疗": "public",
         "工业": "public", "厂房": "public", "商住": "mixed", "商住楼": "mixed",
         "住商": "mixed", "综合": "mixed", "综合楼": "mixed", "混合": "mixed"}
# Tried in order on values not in _USES: mixed before residential, as 商住 holds 住.
_USE_HINTS = (("mixed", ("商住", "住商", "综合", "混合")),
              ("residential", ("住", "宅", "居", "寓")),
              ("public", ("公", "商", "办", "校", "医", "厂", "工业", "政府", "机关", "文化",
                          "体育", "教育", "市场", "酒店", "宾馆")))
_SHOWN = 10  # distinct unrecognised values named in a note


def as_text(values: pd.Series) -> pd.Series:
    """Values as stripped strings, None when missing or blank.

    Integral numbers lose their ``.0`` and never turn into exponents, so a float column of
    12-digit codes gives ``"330109002041"``.
    """
    if pd.api.types.is_integer_dtype(values.dtype) and not values.isna().any():
        return pd.Series(values.astype("int64").astype(str).to_numpy(dtype=object))
    objects = values.to_numpy(dtype=object)
    if pd.api.types.infer_dtype(objects, skipna=True) == "string":  # the common case, fast
        return pd.Series([(v.strip() or None) if isinstance(v, str) else None for v in objects],
                         dtype=object)
    return pd.Series([_text(v) for v in objects], dtype=object)


def _text(value: Any) -> str | None:
    if value is None or value is pd.NA:
        return None
    if isinstance(value, float | np.floating):
        if math.isnan(value):
            return None
        if float(value).is_integer():
            return str(int(value))
        return np.format_float_positional(value, trim="-")
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, bytes):
        value = value.decode("utf-8", errors="replace")
    text = str(value).strip()
    return text or None


def numbers(values: pd.Series, *, column: str, notes: list[str]) -> pd.Series:
    """Positive numbers from a numeric or text column (``"24m"``, ``"18层"``); NaN otherwise."""
    if pd.api.types.is_numeric_dtype(values.dtype):
        parsed = pd.to_numeric(values, errors="coerce").astype(float)
        unreadable = pd.Series(False, index=values.index)
    else:
        text = as_text(values)
        found = text.str.extract(_NUMBER, expand=False)
        parsed = pd.to_numeric(found, errors="coerce").astype(float)
        unreadable = text.notna() & parsed.isna()
    bad = unreadable | (parsed <= 0)
    if bad.any():
        shown = ", ".join(sorted({str(v) for v in values[bad]})[:_SHOWN])
        notes.append(f"{int(bad.sum())} values of column {column!r} are not positive numbers "
                     f"({shown}); they are left empty.")
    return parsed.where(~bad).reset_index(drop=True)


def community_kinds(kinds: pd.Series, names: pd.Series, notes: list[str]) -> pd.Series:
    """社区 or 村 from a kind column, else from the name (村, 村委会 endings make a village)."""
    derived = pd.Series(np.where(names.fillna("").str.endswith(_VILLAGE_ENDINGS), "村", "社区"),
                        dtype=object)
    mapped = kinds.map(lambda v: _KINDS.get(str(v).strip().lower()) if v is not None else None)
    unknown = kinds.notna() & mapped.isna()
    if unknown.any():
        shown = ", ".join(sorted(set(kinds[unknown]))[:_SHOWN])
        notes.append(f"{int(unknown.sum())} communities have a kind that is neither 社区 nor 村 "
                     f"({shown}); it was taken from the name instead.")
    return mapped.where(mapped.notna(), derived).astype(object)


def building_uses(uses: pd.Series, notes: list[str]) -> pd.Series:
    """residential, public or mixed from common Chinese and English values; residential if unset."""
    distinct = {v: _use(v) for v in uses.dropna().unique()}
    mapped = uses.map(distinct)  # NaN where unset (None) and where unknown
    unknown = mapped.isna() & np.array([use is not None for use in uses], dtype=bool)
    if unknown.any():
        shown = ", ".join(sorted({str(v) for v in uses[unknown]})[:_SHOWN])
        notes.append(f"{int(unknown.sum())} buildings have a use gridmap does not know "
                     f"({shown}); they were taken as residential.")
    return mapped.fillna("residential").astype(object)


def _use(value: str) -> str | None:
    key = str(value).strip().lower()
    if key in _USES:
        return _USES[key]
    for use, hints in _USE_HINTS:
        if any(hint in key for hint in hints):
            return use
    return None
