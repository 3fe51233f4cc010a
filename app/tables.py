"""Tables as people read them: every page hands its tidy frame and a column spec to `table`.

A spec names each column shown, in order, with its label and kind; every value becomes text in
the app's words (core.words): money as '1.10 M EUR', shares as '3.5%', counts as '52,074',
dates as '13 Jul 2026', scores as '31 / 100', and a dash for anything missing. Columns not in
the spec are not shown.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pandas as pd
import streamlit as st

from core.words import STAGES, day, moment, money, number, points, score

MISSING = "–"
# Kinds whose values line up on the right, as numbers do.
_NUMERIC = {"money", "percent", "count", "score", "points", "number"}


@dataclass(frozen=True)
class Column:
    """How one column reads: its LABEL, its KIND and, for money, its UNIT; HELP shows on hover
    over the header. Kinds: text (as stored: names, ids), term (a code word: 'request_review'
    reads 'request review'), money, percent (a share of 1), count, date, time, score (out of
    100), points, number (rounded), value (a number rounded, anything else as text), version,
    stage, flag (yes/no), record (a JSON object as 'key: value; ...')."""

    label: str
    kind: str = "text"
    unit: str = ""
    help: str | None = None


def _missing(value: Any) -> bool:
    if value is None or value is pd.NA or value is pd.NaT or value == "":
        return True
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):  # lists, dicts and arrays are values, not missing
        return False


_FORMATS: dict[str, Callable[[Any, Column], str]] = {
    "text": lambda v, c: str(v),
    "term": lambda v, c: str(v).replace("_", " "),
    "money": lambda v, c: money(float(v), c.unit),
    "percent": lambda v, c: f"{float(v):.1%}",
    "count": lambda v, c: f"{int(v):,}",
    "date": lambda v, c: day(pd.Timestamp(v)),
    "time": lambda v, c: moment(pd.Timestamp(v)),
    "score": lambda v, c: score(float(v)),
    "points": lambda v, c: points(float(v)),
    "number": lambda v, c: number(float(v)),
    "value": lambda v, c: number(float(v)) if isinstance(v, int | float) else str(v),
    "version": lambda v, c: f"v{int(v)}",
    "stage": lambda v, c: STAGES.get(str(v), str(v).replace("_", " ")),
    "flag": lambda v, c: "yes" if v else "no",
    "record": lambda v, c: _record(v),
}


def _record(value: Any) -> str:
    """A JSON object (or its text) as 'stage: in review; previous: –', keys in words."""
    found = json.loads(value) if isinstance(value, str) else value
    if not isinstance(found, dict):
        return json.dumps(found, ensure_ascii=False)
    return (
        "; ".join(
            f"{key.replace('_', ' ')}: "
            + (MISSING if item is None else _record(item) if isinstance(item, dict) else str(item))
            for key, item in found.items()
        )
        or MISSING
    )


def cell(value: Any, column: Column) -> str:
    """One value as COLUMN shows it; a dash when it is missing."""
    if _missing(value):
        return MISSING
    return _FORMATS[column.kind](value, column)


def display(frame: pd.DataFrame, columns: dict[str, Column]) -> pd.DataFrame:
    """FRAME's COLUMNS (a spec keyed by the frame's column names), in the spec's order, as text
    under their labels."""
    return pd.DataFrame(
        {spec.label: [cell(v, spec) for v in frame[name]] for name, spec in columns.items()},
        index=frame.index,
    )


def config(columns: dict[str, Column]) -> dict[str, Any]:
    """st.column_config for a displayed frame: numbers on the right, the spec's help."""
    return {
        spec.label: st.column_config.TextColumn(
            spec.label,
            help=spec.help,
            alignment="right" if spec.kind in _NUMERIC else "left",
        )
        for spec in columns.values()
    }


def table(
    frame: pd.DataFrame, columns: dict[str, Column] | None = None, *, key: str, **options: Any
) -> Any:
    """FRAME shown as a read-only table in people's words (see `display`); without COLUMNS,
    FRAME is already in words (core's tables for people) and shows as it is, dashes for gaps.
    OPTIONS go to st.dataframe (on_select, selection_mode)."""
    columns = columns or {name: Column(str(name)) for name in frame.columns}
    return st.dataframe(
        display(frame, columns),
        hide_index=True,
        column_config=config(columns),
        key=key,
        **options,
    )
