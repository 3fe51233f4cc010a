"""The model-agnostic explainer: Shapley values by antithetic permutation sampling, sized to a
time budget per case.

A small timed model call (and a bigger one when that was cheap) estimates the cost of a scored
row; then the background sample, and after it the number of feature orderings, shrink until the
estimate fits the budget. Whatever is sampled, a case adds up exactly to the model's output.
The explainer passed in is core.explain's Explainer (its names, features and predict).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

BACKGROUND_ROWS = 100
MIN_BACKGROUND_ROWS = 10
PERMUTATION_PAIRS = 4  # antithetic pairs of feature orderings at full settings
# Background sizes a budget chooses from. A few steps, not any number: the plan comes from a
# timed call, and a case explained twice (by the CLI and the page, or on a busier moment) must
# not get other numbers because the machine was a little faster or slower.
BACKGROUND_STEPS = (10, 15, 25, 40, 60, 100)
PROBE_ROWS = 5
PROBE_SHARE = 0.1  # of the budget, at most, spent timing a bigger batch before choosing


@dataclass(frozen=True)
class Sampling:
    """What the permutation explainer samples per case, chosen to fit a time budget."""

    permutations: int
    background_rows: int
    full_permutations: int
    full_background_rows: int
    budget_seconds: float
    estimated_seconds: float

    @property
    def reduced(self) -> bool:
        """Whether fewer orderings or background rows than the full settings are used."""
        return (
            self.permutations < self.full_permutations
            or self.background_rows < self.full_background_rows
        )

    @property
    def over_budget(self) -> bool:
        """Whether a case is expected to take longer than the budget even so."""
        return self.estimated_seconds > self.budget_seconds

    @property
    def note(self) -> str:
        """The sampling in plain words, saying when and why the explanation is approximate."""
        cut = []
        if self.background_rows < self.full_background_rows:
            cut.append(f"{self.background_rows} background rows (of {self.full_background_rows})")
        if self.permutations < self.full_permutations:
            cut.append(f"{self.permutations} feature orderings (of {self.full_permutations})")
        budget = f"{self.budget_seconds:g} s"
        if not cut:
            head = (
                f"Sampled {self.permutations} feature orderings against "
                f"{self.background_rows} background rows"
            )
        elif self.over_budget:
            head = f"Approximate: reduced to the minimum, {' and '.join(cut)}"
        else:
            return f"Approximate: reduced to {' and '.join(cut)} to answer within {budget}."
        if self.over_budget:
            return (
                f"{head}; it still takes about {_seconds(self.estimated_seconds)} per case, "
                f"longer than the {budget} budget."
            )
        return f"{head}."


def _seconds(value: float) -> str:
    return f"{value:.1f} s" if value >= 1 else f"{value:.2g} s"


def permutation_explain(
    explainer: Any,
    background: pd.DataFrame,
    budget_seconds: float,
    clock: Callable[[], float],
) -> tuple[Any, Sampling]:
    """Shapley values by antithetic permutation sampling against the background rows.

    Each ordering switches the row's values on one feature at a time, so its steps add up to
    f(row) - mean f(background) exactly; averaging orderings keeps that sum, whatever the number
    of orderings or background rows the budget allows. Written in NumPy: shap's permutation
    explainer compiles numba code on first use (20 s or more per process).
    """
    names, p = explainer.names, len(explainer.names)
    rows_b = background[names].to_numpy(dtype=object)
    largest = len(_orderings(p, PERMUTATION_PAIRS)[1]) * min(len(rows_b), BACKGROUND_ROWS)
    per_row = _seconds_per_row(explainer, rows_b, largest, budget_seconds, clock)
    sampling = plan_sampling(p, len(rows_b), per_row, budget_seconds)
    if sampling.background_rows < len(rows_b):
        rows_b = (
            background[names]
            .sample(n=sampling.background_rows, random_state=0)
            .to_numpy(dtype=object)
        )
    orders, masks, where = _orderings(p, sampling.permutations // 2)

    def run(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        base, values = np.empty(len(frame)), np.zeros((len(frame), p))
        for i, row in enumerate(frame[names].to_numpy(dtype=object)):
            mixed = np.where(masks[:, None, :], row[None, None, :], rows_b[None, :, :])
            scores = _score(explainer, mixed.reshape(-1, p))
            means = scores.reshape(len(masks), len(rows_b)).mean(axis=1)
            path = means[where.reshape(len(orders), p + 1)]
            for k, order in enumerate(orders):
                values[i, order] += np.diff(path[k])
            values[i] /= len(orders)
            base[i] = path[:, 0].mean()
        return base, values

    return run, sampling


def _orderings(p: int, pairs: int) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    """PAIRS random feature orderings and their reverses, the coalitions they pass through
    (each once), and where each ordering's steps are among those coalitions."""
    rng = np.random.default_rng(0)  # fewer pairs are a prefix of more: cutting keeps the rest
    orders = [rng.permutation(p) for _ in range(pairs)]
    orders += [order[::-1] for order in orders]
    steps = np.zeros((len(orders), p + 1, p), dtype=bool)
    for k, order in enumerate(orders):
        for j, feature in enumerate(order):
            steps[k, j + 1 :, feature] = True
    # The same coalition (all off, all on) recurs across orderings: score each one once.
    masks, where = np.unique(steps.reshape(-1, p), axis=0, return_inverse=True)
    return orders, masks, where


def _score(explainer: Any, rows: np.ndarray) -> np.ndarray:
    """The model's output for ROWS of original feature values (an object array)."""
    batch = pd.DataFrame(rows, columns=explainer.names)
    for f in explainer.features:
        if f.kind == "numeric":
            batch[f.name] = pd.to_numeric(batch[f.name], errors="coerce").astype(float)
    return explainer.predict(batch)


def _seconds_per_row(
    explainer: Any,
    rows_b: np.ndarray,
    largest: int,
    budget_seconds: float,
    clock: Callable[[], float],
) -> float:
    """Seconds a scored row costs, from one small timed call (and a bigger one if it was cheap).

    A small call is mostly the model's fixed cost per call; when the estimate says a batch
    nearer a case's LARGEST one fits in a tenth of the budget, that batch is timed instead,
    so a fast model is not cut down for an overhead a real batch shares across its rows.
    """

    def timed(rows: np.ndarray) -> float:
        start = clock()
        _score(explainer, rows)
        return max(clock() - start, 0.0) / len(rows)

    small = min(len(rows_b), PROBE_ROWS)
    per_row = timed(rows_b[:small])
    bigger = min(largest, int(PROBE_SHARE * budget_seconds / max(per_row, 1e-12)))
    if bigger >= 4 * small:
        per_row = timed(rows_b[np.arange(bigger) % len(rows_b)])
    return per_row


def plan_sampling(
    features: int, background_rows: int, seconds_per_row: float, budget_seconds: float
) -> Sampling:
    """The most orderings and background rows whose estimated time per case fits the budget.

    Background rows go first (sampled down to MIN_BACKGROUND_ROWS), then pairs of orderings
    (down to one); when even that does not fit, the minimum is used and the estimate says so.
    """
    full_rows = min(background_rows, BACKGROUND_ROWS)
    least_rows = min(full_rows, MIN_BACKGROUND_ROWS)
    affordable = budget_seconds / max(seconds_per_row, 1e-12)  # scored rows per case

    def coalitions(pairs: int) -> int:
        return len(_orderings(features, pairs)[1])

    pairs = PERMUTATION_PAIRS
    rows = int(min(full_rows, affordable // coalitions(pairs)))
    steps = {least_rows, full_rows, *(s for s in BACKGROUND_STEPS if least_rows < s < full_rows)}
    rows = max((s for s in steps if s <= rows), default=rows)
    if rows < least_rows:
        rows = least_rows
        pairs = next((k for k in range(pairs, 0, -1) if coalitions(k) * rows <= affordable), 1)
    return Sampling(
        permutations=2 * pairs,
        background_rows=rows,
        full_permutations=2 * PERMUTATION_PAIRS,
        full_background_rows=full_rows,
        budget_seconds=budget_seconds,
        estimated_seconds=coalitions(pairs) * rows * seconds_per_row,
    )
