"""The model-agnostic explainer: Shapley values against background rows, on a fixed plan.

The plan depends on the number of input columns and background rows only, never on the clock:
a case scores about SCORED_ROWS_PER_CASE rows. When every coalition of columns fits in that
(8 columns against 100 rows: 256 x 100), all are scored and the values are exact. Otherwise
feature orderings are drawn with a fixed seed in antithetic pairs (an ordering and its
reverse), as many pairs as fit (at least MIN_PAIRS); each pair's estimate adds up exactly, and
the spread of the pairs' estimates gives each contribution's standard error.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from math import factorial

import numpy as np

BACKGROUND_ROWS = 100
SCORED_ROWS_PER_CASE = 25_600
MIN_PAIRS = 2
MAX_PAIRS = 64
SEED = 0
# The overview (global importance, importance over time) explains hundreds of rows: one pair
# of orderings against a few background rows each, its error averaging out over the rows.
OVERVIEW_BACKGROUND_ROWS = 5
OVERVIEW_PAIRS = 1

Score = Callable[[np.ndarray], np.ndarray]  # the model's output for (rows, background, columns)


@dataclass(frozen=True)
class Plan:
    """What a case scores: every coalition (pairs == 0) or PAIRS antithetic orderings."""

    features: int
    background_rows: int
    pairs: int
    seed: int = SEED

    @property
    def exact(self) -> bool:
        """Whether every coalition is scored (no sampling error)."""
        return self.pairs == 0

    @property
    def coalitions(self) -> int:
        """Coalitions scored per case, each against every background row."""
        if self.exact:
            return 2**self.features
        return len(_orderings(self.features, self.pairs, self.seed)[1])

    @property
    def scored_rows(self) -> int:
        """Rows the model scores per case."""
        return self.coalitions * self.background_rows

    def describe(self) -> str:
        """The plan in plain words."""
        rows = f"{self.background_rows} reference rows"
        if self.exact:
            return f"All {self.coalitions} coalitions of the {self.features} inputs against {rows}"
        return (
            f"{2 * self.pairs} feature orderings ({self.pairs} antithetic pairs, seed "
            f"{self.seed}) against {rows}, fixed for {self.features} inputs"
        )


def plan_for(features: int, background_rows: int) -> Plan:
    """The plan of a model with FEATURES inputs and BACKGROUND_ROWS rows to compare with."""
    rows = min(background_rows, BACKGROUND_ROWS)
    if 2**features * rows <= SCORED_ROWS_PER_CASE:
        return Plan(features, rows, 0)
    pairs = MIN_PAIRS
    while pairs < MAX_PAIRS and _coalitions(features, pairs + 1) * rows <= SCORED_ROWS_PER_CASE:
        pairs += 1
    return Plan(features, rows, pairs)


def overview_plan(features: int, background_rows: int) -> Plan:
    """The cheaper plan used when explaining many rows for the overview."""
    rows = min(background_rows, OVERVIEW_BACKGROUND_ROWS)
    if 2**features * rows <= SCORED_ROWS_PER_CASE // 20:
        return Plan(features, rows, 0)
    return Plan(features, rows, OVERVIEW_PAIRS)


def _coalitions(features: int, pairs: int) -> int:
    # An ordering passes features + 1 coalitions; all orderings share the empty and full ones.
    return min(2**features, 2 * pairs * (features - 1) + 2)


def _orderings(p: int, pairs: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """PAIRS seeded orderings and their reverses (rows 2k and 2k+1), the distinct coalitions
    they pass through, and where each ordering's steps are among those coalitions."""
    rng = np.random.default_rng(seed)
    orders = np.empty((2 * pairs, p), dtype=int)
    for k in range(pairs):
        orders[2 * k] = rng.permutation(p)
        orders[2 * k + 1] = orders[2 * k][::-1]
    steps = np.zeros((len(orders), p + 1, p), dtype=bool)
    for k, order in enumerate(orders):
        for j, feature in enumerate(order):
            steps[k, j + 1 :, feature] = True
    masks, where = np.unique(steps.reshape(-1, p), axis=0, return_inverse=True)
    return orders, masks, where.reshape(len(orders), p + 1)


def explain_rows(
    score: Score, x: np.ndarray, background: np.ndarray, groups: np.ndarray, plan: Plan
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(base, contributions, standard errors) of rows X (model columns), per input column.

    GROUPS gives each column's input column; a coalition takes its input columns' model
    columns from the row and the others from a background row. SCORE maps a matrix of model
    columns to the output explained."""
    p, rows_b = plan.features, len(background)
    if plan.exact:
        masks = (np.arange(2**p)[:, None] >> np.arange(p)) & 1 == 1
    else:
        orders, masks, where = _orderings(p, plan.pairs, plan.seed)
    columns = masks[:, groups]  # coalition -> model columns taken from the row
    base = np.empty(len(x))
    values, errors = np.zeros((len(x), p)), np.zeros((len(x), p))
    for i, row in enumerate(x):
        mixed = np.where(columns[:, None, :], row[None, None, :], background[None, :, :])
        means = score(mixed.reshape(-1, x.shape[1])).reshape(len(masks), rows_b).mean(axis=1)
        base[i] = means[0]  # np.unique and the bit order both put the empty coalition first
        if plan.exact:
            values[i] = _exact(means, masks)
            continue
        path = means[where]  # ordering, step
        per_order = np.zeros((len(orders), p))
        for k, order in enumerate(orders):
            per_order[k, order] = np.diff(path[k])
        per_pair = per_order.reshape(plan.pairs, 2, p).mean(axis=1)
        values[i] = per_pair.mean(axis=0)
        # One pair (the overview's) has no spread to measure: its error is unknown.
        errors[i] = per_pair.std(axis=0, ddof=1) / np.sqrt(plan.pairs) if plan.pairs > 1 else np.nan
    return base, values, errors


def _exact(means: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """Shapley values from the value of every coalition (index = bit mask)."""
    p = masks.shape[1]
    sizes = masks.sum(axis=1)
    weight = np.array([factorial(s) * factorial(p - s - 1) / factorial(p) for s in range(p)])
    out = np.zeros(p)
    for j in range(p):
        without = np.flatnonzero(~masks[:, j])
        out[j] = (weight[sizes[without]] * (means[without | (1 << j)] - means[without])).sum()
    return out
