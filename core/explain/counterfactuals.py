"""Counterfactual hint: the smallest change to one or two actionable features that flips a
binary decision at the operating threshold, checked by scoring the changed case again.

"Smallest" is measured in population terms: how many percentiles of the reference a value
moves (a category change counts as 50). Candidates are scored in one batch per search.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from core.explain import Explainer
from core.registry.features import Feature
from core.words import plain

GRID = np.linspace(0.01, 0.99, 50)
CATEGORY_COST = 0.5


@dataclass(frozen=True)
class Change:
    """One feature moved from one value to another."""

    feature: str
    before: Any
    after: Any


@dataclass(frozen=True)
class Counterfactual:
    """Changes that flip the decision, and the verified new score."""

    changes: list[Change]
    score: float
    threshold: float
    cost: float


def _candidates(feature: Feature, reference: pd.DataFrame, value: Any) -> list[tuple[Any, float]]:
    column = reference[feature.name].dropna()
    if column.empty:
        return []
    if feature.kind == "numeric":
        numbers = np.sort(column.to_numpy(dtype=float))
        # Values that occur in the population: a whole-number feature gets whole numbers.
        points = np.unique(np.quantile(numbers, GRID, method="inverted_cdf"))
        shares = np.searchsorted(numbers, points) / len(numbers)
        here = 0.5 if pd.isna(value) else np.searchsorted(numbers, float(value)) / len(numbers)
        moves = np.abs(shares - here)
        return [(float(v), float(m)) for v, m in zip(points, moves, strict=True) if v != value]
    return [(c, CATEGORY_COST) for c in sorted(column.astype(str).unique()) if c != value]


def find(
    explainer: Explainer,
    case: pd.DataFrame,
    reference: pd.DataFrame,
    threshold: float,
    actionable: list[str],
    max_features: int = 2,
) -> Counterfactual | None:
    """The cheapest flip using at most MAX_FEATURES actionable features, or None."""
    features = {f.name: f for f in explainer.features}
    usable = [n for n in actionable if n in features]
    if not usable:
        return None
    row = case[explainer.names].iloc[[0]].reset_index(drop=True)
    score = float(explainer.predict(row)[0])
    flagged = score >= threshold
    options = {n: _candidates(features[n], reference, row.iloc[0][n]) for n in usable}
    # Every candidate of every size in one batch: a pipeline call costs far more than its rows.
    tries: list[tuple[int, dict[str, Any], float]] = []
    for size in range(1, max_features + 1):
        for combo in itertools.combinations(usable, size):
            grids = [options[n] if size == 1 else _thin(options[n]) for n in combo]
            for picked in itertools.product(*grids):
                change = {name: value for name, (value, _) in zip(combo, picked, strict=True)}
                tries.append((size, change, sum(cost for _, cost in picked)))
    if not tries:
        return None
    batch = row.iloc[np.zeros(len(tries), dtype=int)].reset_index(drop=True)
    for name in usable:
        current = row.iloc[0][name]
        batch[name] = [change.get(name, current) for _, change, _ in tries]
    scores = explainer.predict(batch)
    flips = (scores < threshold) if flagged else (scores >= threshold)
    # Fewest features first, then the smallest move.
    found = sorted((tries[i][0], tries[i][2], i) for i in np.flatnonzero(flips))
    if not found:
        return None
    _, cost, i = found[0]
    changed = row.copy()
    for name, value in tries[i][1].items():
        changed[name] = value
    verified = float(explainer.predict(changed)[0])
    if (verified < threshold) != flagged:
        return None
    return Counterfactual(
        [Change(n, plain(row.iloc[0][n]), plain(v)) for n, v in tries[i][1].items()],
        verified,
        threshold,
        cost,
    )


def _thin(options: list[tuple[Any, float]], keep: int = 15) -> list[tuple[Any, float]]:
    if len(options) <= keep:
        return options
    idx = np.linspace(0, len(options) - 1, keep).round().astype(int)
    return [options[i] for i in sorted(set(idx))]
