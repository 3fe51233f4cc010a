"""Shapley values by brute force: every coalition of input columns, each against every
background row, scored through the whole model (the definition the explainers must meet)."""

from __future__ import annotations

from collections.abc import Callable
from itertools import combinations
from math import factorial

import numpy as np
import pandas as pd


def shapley(
    output: Callable[[pd.DataFrame], np.ndarray], row: pd.DataFrame, background: pd.DataFrame
) -> tuple[float, dict[str, float]]:
    """(mean output over BACKGROUND, Shapley value per column) of the one-row frame ROW, with
    v(S) = mean over background rows of OUTPUT(row's columns S, the background row's others)."""
    names = list(background.columns)
    p = len(names)
    value: dict[frozenset[str], float] = {}
    for size in range(p + 1):
        for coalition in combinations(names, size):
            mixed = background.copy()
            for name in coalition:
                mixed[name] = [row.iloc[0][name]] * len(mixed)
            value[frozenset(coalition)] = float(np.mean(output(mixed)))
    phi = {}
    for name in names:
        others = [n for n in names if n != name]
        total = 0.0
        for size in range(p):
            weight = factorial(size) * factorial(p - size - 1) / factorial(p)
            for coalition in combinations(others, size):
                s = frozenset(coalition)
                total += weight * (value[s | {name}] - value[s])
        phi[name] = total
    return value[frozenset()], phi
