"""CSV that is safe to open in a spreadsheet: a text cell a spreadsheet would run as a formula
(starting with = + - @, a tab or a carriage return) is written with a leading apostrophe, which
spreadsheets show as text. Numbers, negative ones included, are written as they are."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # imported where used: `audit verify` and other light commands skip pandas
    import pandas as pd

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _safe(value: Any) -> Any:
    if not isinstance(value, str) or not value.startswith(FORMULA_START):
        return value
    try:
        float(value)
    except ValueError:
        return "'" + value
    return value


def spreadsheet_safe(frame: pd.DataFrame) -> pd.DataFrame:
    """FRAME with every text cell that could run as a formula neutralised."""
    import pandas as pd

    out = frame.copy()
    for column in out.columns:
        if out[column].dtype == object or pd.api.types.is_string_dtype(out[column]):
            out[column] = out[column].map(_safe)
    out.columns = [_safe(str(c)) for c in out.columns]
    return out


def csv_text(frame: pd.DataFrame) -> str:
    """FRAME as spreadsheet-safe CSV text."""
    return spreadsheet_safe(frame).to_csv(index=False)


def write_csv(frame: pd.DataFrame, target: Path) -> None:
    """Write FRAME as spreadsheet-safe CSV to TARGET (its folder is created)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(csv_text(frame), encoding="utf-8")
