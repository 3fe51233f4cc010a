"""Which model columns each input column feeds, checked on the background rows.

A Pipeline's preprocessing (scalers, one-hot and ordinal encoders, imputers) usually turns each
input column into one or more model columns of its own. When it does, the model's input for a
row that mixes two rows' input columns is the same mix of their model columns, so the exact
explainers can work on the model columns and sum them back per input column. The property is
not read from names: each input column in turn is changed on the background rows, and every
model column that moves must move for that one input column only.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd


def typed_inputs(frame: pd.DataFrame, features: list[Any]) -> pd.DataFrame:
    """FRAME's input columns as the model reads them: numeric FEATURES as floats (unreadable
    values as NaN), the others as objects with None for missing values."""
    out = frame.copy()
    for f in features:
        if f.kind == "numeric":
            out[f.name] = pd.to_numeric(out[f.name], errors="coerce").astype(float)
        else:
            out[f.name] = out[f.name].astype(object).where(out[f.name].notna(), None)
    return out


def model_matrix(preprocess: Any, frame: pd.DataFrame) -> np.ndarray:
    """The rows of FRAME as the final estimator sees them: a dense float matrix."""
    if preprocess is None:
        return frame.to_numpy(dtype=float)
    out = preprocess.transform(frame)
    if hasattr(out, "toarray"):  # a sparse one-hot output
        out = out.toarray()
    return np.asarray(out, dtype=float)


def input_groups(preprocess: Any, background: pd.DataFrame, names: list[str]) -> np.ndarray | None:
    """For each model column, the index of the one input column it depends on, or None when
    some model column depends on several input columns (or the inputs are not all numbers and
    there is no preprocessing)."""
    try:
        base = model_matrix(preprocess, background[names])
    except (TypeError, ValueError):
        return None
    if preprocess is None:
        return np.arange(len(names)) if base.shape[1] == len(names) else None
    rows, width = len(background), base.shape[1]
    # Every input column rolled by one row, all in one call: p copies of the background.
    changed = pd.concat(
        [background[names].assign(**{n: np.roll(background[n].to_numpy(), 1)}) for n in names],
        ignore_index=True,
    )
    moved_rows = model_matrix(preprocess, changed).reshape(len(names), rows, width)
    same = (moved_rows == base) | (np.isnan(moved_rows) & np.isnan(base))
    moved = ~same.all(axis=1)  # (input, model column)
    if (moved.sum(axis=0) > 1).any():
        return None
    groups = moved.argmax(axis=0)
    still = ~moved.any(axis=0)
    if still.any():
        # A column no change of the background moved (e.g. a category the background lacks):
        # its input column comes from its name, and without a name it cannot be placed.
        named = _groups_by_name(preprocess, names, width)
        if named is None:
            return None
        groups[still] = named[still]
    return groups


def _groups_by_name(preprocess: Any, names: list[str], width: int) -> np.ndarray | None:
    try:
        out = list(preprocess.get_feature_names_out(names))
    except Exception:  # a transformer without feature names
        return None
    if len(out) != width:
        return None
    groups = []
    for column in out:
        bare = column.split("__", 1)[-1]
        match = max(
            (i for i, n in enumerate(names) if bare == n or bare.startswith(f"{n}_")),
            key=lambda i: len(names[i]),
            default=None,
        )
        if match is None:
            return None
        groups.append(match)
    return np.asarray(groups)


def group_sum(values: np.ndarray, groups: np.ndarray, width: int) -> np.ndarray:
    """Per-row sums of VALUES' model columns by input column (rows x WIDTH)."""
    summed = np.zeros((values.shape[0], width))
    np.add.at(summed.T, groups, values.T)
    return summed
