"""Tidy result frames with one column order, dtype and row order whichever engine counted."""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

DAY = "datetime64[s]"
KEYS = ("version", "day")


def tidy(got: pd.DataFrame | None, schema: Mapping[str, str], order: list[str]) -> pd.DataFrame:
    """GOT's columns in SCHEMA's order and dtypes, rows sorted by ORDER (None: no rows)."""
    if got is None or got.empty:
        return pd.DataFrame({c: pd.Series(dtype=t) for c, t in schema.items()})
    out = got[list(schema)].astype(dict(schema))
    return out.sort_values(order, na_position="first", kind="stable").reset_index(drop=True)
