"""Explanations of a version's model, in the model's output units and the columns users send.

Each route gives Shapley values against the same background (up to 100 reference rows), with
input columns as the players, and every case adds up: base value + contributions = output.

- Linear and logistic models behind per-column preprocessing (core.explain.columns) are
  additive in their margin: exact, from the coefficients (core.explain.linear).
- Tree models (forests, extra trees, gradient boosting, histogram gradient boosting, single
  trees) behind per-column preprocessing: exact, by walking the trees (core.explain.trees).
- Anything else: on a fixed plan set by the number of inputs and background rows
  (core.explain.permutation), with a standard error per contribution.

A multiclass model is explained one class at a time, that class's probability (POSITIVE_LABEL
names it). Forests take the exact tree route on the class's leaf shares. A multinomial logistic
or boosted model takes the fixed-plan route: its class probability is a softmax over every
class's margin, so the linear route's per-case factor from margin to probability could come out
negative and turn every sign (the class's margin up, its probability down).

A model adds up on its own scale (log-odds for logistic and boosted models, probability for
forests); core.explain.units carries an exact explanation into the units asked for. Nothing
depends on the clock, so a case of a version reads the same in every process.

The model is read from its file once per version; after that from its plain form
(core.explain.plain_model), which scores to the bit as the file's model does and spares
importing scikit-learn and skops.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd

from core.errors import InvalidInput
from core.explain import linear, trees
from core.explain.columns import input_groups, model_matrix
from core.explain.permutation import (
    BACKGROUND_ROWS,
    Plan,
    explain_rows,
    overview_plan,
    plan_for,
)
from core.explain.plain_model import PlainModel
from core.explain.units import convert, logit
from core.registry.artifacts import class_index
from core.registry.features import Feature
from core.words import plain

UNITS = ("probability", "log_odds")
ADDITIVE_TOLERANCE = 1e-9
OVERVIEW_TREE_ROWS = 10


@dataclass(frozen=True)
class Explanation:
    """One row explained: base value + sum(contributions) = output."""

    base_value: float
    output: float
    contributions: dict[str, float]
    values: dict[str, Any]
    units: str
    method: str
    plan: Plan | None = None  # the sampling plan; None for the exact linear and tree routes
    errors: dict[str, float] | None = None  # standard error of each sampled contribution
    odds_ratios: dict[str, float] | None = None  # logistic models: exp(log-odds contribution)

    @property
    def note(self) -> str:
        """How the contributions were computed, in plain words ('' for linear and trees)."""
        if self.plan is None:
            return ""
        if self.plan.exact or not self.errors:
            return f"Exact: {self.plan.describe()}."
        worst = max(self.errors.values())
        return (
            f"Estimated from {self.plan.describe()}; each contribution is within about "
            f"{_size(worst, self.units)} (one standard error, the largest shown)."
        )


def _size(value: float, units: str) -> str:
    if np.isnan(value):
        return "an unknown margin"
    if units == "probability":
        return f"±{value * 100:.2g} points"
    return f"±{value:.2g}"


@dataclass
class Explainer:
    """A fitted explainer for one model version (cache it: building one costs a little)."""

    model: Any
    features: list[Feature]
    positive_label: str | None
    units: str
    method: str
    loaded_with: str
    plan: Plan | None = None
    _explain: Any = None  # frame -> (base, contributions, errors or None, log-odds or None)
    _overview: Any = None  # the same, cheaper, for explaining many rows at once

    @property
    def names(self) -> list[str]:
        """Original feature names, in registered order."""
        return [f.name for f in self.features]

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        """The model's output for rows of original features, in this explainer's units."""
        frame = frame[self.names]
        with one_thread():
            if self.positive_label is None:
                return np.asarray(self.model.predict(frame), dtype=float)
            index = _positive_index(self.model, self.positive_label)
            proba = self.model.predict_proba(frame)[:, index]
        return logit(proba) if self.units == "log_odds" else np.asarray(proba, dtype=float)

    def explain(self, frame: pd.DataFrame, *, overview: bool = False) -> list[Explanation]:
        """Explain each row of FRAME (original feature columns); OVERVIEW uses the cheaper plan
        meant for averaging over many rows (global importance)."""
        frame = frame[self.names].reset_index(drop=True)
        run = self._overview if overview and self._overview is not None else self._explain
        with one_thread():
            base, contributions, errors, margins = run(frame)
        outputs = self.predict(frame)
        shown = frame.astype(object).to_dict("records")
        plan = None
        if self.method == "permutation":
            plan = self.plan if run is self._explain else _plan_of(self, overview=True)
        return [
            Explanation(
                base_value=float(base[i]),
                output=float(outputs[i]),
                contributions={n: float(contributions[i, j]) for j, n in enumerate(self.names)},
                values={n: plain(shown[i][n]) for n in self.names},
                units=self.units,
                method=self.method,
                plan=plan,
                errors=None
                if errors is None
                else {n: float(errors[i, j]) for j, n in enumerate(self.names)},
                odds_ratios=None
                if margins is None
                else {n: float(np.exp(margins[i, j])) for j, n in enumerate(self.names)},
            )
            for i in range(len(frame))
        ]


@lru_cache(maxsize=1)
def _threads() -> Any:
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


def one_thread() -> Any:
    """A context in which models score on one thread: on a busy machine OpenMP models
    (histogram gradient boosting) wait for cores far longer than a case takes to compute
    (0.45 s against 0.025 s for 5 rows at a load of 8 on 2 cores)."""
    return _threads().limit(limits=1)


def _plan_of(explainer: Explainer, *, overview: bool) -> Plan | None:
    plan = explainer.plan
    if plan is None or not overview:
        return plan
    return overview_plan(plan.features, plan.background_rows)


def _positive_index(model: Any, positive_label: str) -> int:
    # The same rule as scoring at registration, so 'true' finds a model's True class.
    return class_index([str(c) for c in getattr(model, "classes_", [])], positive_label)


def _split(model: Any) -> tuple[Any | None, Any]:
    """(preprocessing, final estimator) of a Pipeline; (None, model) otherwise."""
    if isinstance(model, PlainModel):
        return model.preprocess, model.estimator
    steps = getattr(model, "steps", None)
    if steps and len(steps) > 1:
        return model[:-1], model[-1]
    return None, model


def build_explainer(
    model: Any,
    features: list[Feature],
    background: pd.DataFrame,
    positive_label: str | None,
    units: str = "probability",
    loaded_with: str = "",
) -> Explainer:
    """Choose and fit the explainer for a model; BACKGROUND holds reference rows (the first
    BACKGROUND_ROWS are used)."""
    if units not in UNITS:
        raise InvalidInput(f"unknown units {units!r}; use {' or '.join(UNITS)}")
    classifier = positive_label is not None
    names = [f.name for f in features]
    background = background[names].head(BACKGROUND_ROWS).reset_index(drop=True)
    preprocess, estimator = _split(model)
    explainer = Explainer(
        model, features, positive_label, units if classifier else "prediction", "", loaded_with
    )
    positive = None if positive_label is None else _positive_index(estimator, positive_label)
    with one_thread():
        _choose_route(explainer, preprocess, estimator, positive, background)
    return explainer


def _choose_route(
    explainer: Explainer,
    preprocess: Any,
    estimator: Any,
    positive: int | None,
    background: pd.DataFrame,
) -> None:
    """The first exact route that adds up on the background, else the fixed-plan one."""
    names = explainer.names
    groups = input_groups(preprocess, background, names)
    if groups is not None:
        bg = model_matrix(preprocess, background)
        for method, maker in (("linear", linear.exact_route), ("tree", _tree_route)):
            native = maker(estimator, positive, bg, groups, len(names))
            if native is None:
                continue
            run = _in_units(native, preprocess, explainer.units, odds=method == "linear")
            if _additive(explainer, run, background):
                explainer.method, explainer._explain = method, run
                if method == "tree":  # hundreds of rows for the overview: fewer to compare with
                    cheap = maker(estimator, positive, bg[:OVERVIEW_TREE_ROWS], groups, len(names))
                    explainer._overview = _in_units(cheap, preprocess, explainer.units, odds=False)
                return
    _permutation_route(explainer, preprocess, estimator, positive, background, groups)


def _tree_route(
    estimator: Any, positive: int | None, bg: np.ndarray, groups: np.ndarray, width: int
) -> Any:
    forest = trees.forest_of(estimator, positive)
    if forest is None:
        return None
    own = _native_output(estimator, positive, forest.native)
    base = float(own(bg).mean())

    def run(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, str]:
        values = trees.tree_shapley(forest, x, bg, groups, width)
        return np.full(len(x), base), values, own(x), forest.native

    return run


def _native_output(estimator: Any, positive: int | None, native: str) -> Any:
    """The model's own output on the scale its trees add up in, for model-column rows."""

    def own(x: np.ndarray) -> np.ndarray:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="X does not have valid feature names")
            if positive is None:
                return np.asarray(estimator.predict(x), dtype=float)
            if native == "probability":
                return np.asarray(estimator.predict_proba(x)[:, positive], dtype=float)
            margin = np.asarray(estimator.decision_function(x), dtype=float)
            return margin if positive == 1 else -margin

    return own


def _in_units(native_run: Any, preprocess: Any, units: str, *, odds: bool) -> Any:
    """An exact route's run, from the model's own scale into UNITS (core.explain.units)."""

    def run(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, None, np.ndarray | None]:
        x = model_matrix(preprocess, frame)
        base, values, output, native = native_run(x)
        margins = values if odds and native == "log_odds" else None
        base, values = convert(base, values, output, native=native, units=units)
        return base, values, None, margins

    return run


def _additive(explainer: Explainer, run: Any, background: pd.DataFrame) -> bool:
    """Whether RUN adds up to the model's own output in the explainer's units on a few rows."""
    sample = background.head(5)
    base, contributions, _, _ = run(sample)
    expected = explainer.predict(sample)
    gap = np.abs(base + contributions.sum(axis=1) - expected)
    return bool((gap <= ADDITIVE_TOLERANCE * np.maximum(1.0, np.abs(expected))).all())


def _permutation_route(
    explainer: Explainer,
    preprocess: Any,
    estimator: Any,
    positive: int | None,
    background: pd.DataFrame,
    groups: np.ndarray | None,
) -> None:
    """The fixed-plan explainer: on model columns when the preprocessing is per column (one
    call of the final estimator per case), else on input columns through the whole model."""
    names = explainer.names
    if groups is not None:
        bg = model_matrix(preprocess, background)
        units = explainer.units

        def score(x: np.ndarray) -> np.ndarray:
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message="X does not have valid feature names")
                if positive is None:
                    return np.asarray(estimator.predict(x), dtype=float)
                proba = estimator.predict_proba(x)[:, positive]
            return logit(proba) if units == "log_odds" else np.asarray(proba, dtype=float)

        def rows(frame: pd.DataFrame) -> np.ndarray:
            return model_matrix(preprocess, frame)

        used = groups
    else:
        bg = background.to_numpy(dtype=object)

        def score(x: np.ndarray) -> np.ndarray:
            batch = pd.DataFrame(x, columns=names)
            for f in explainer.features:
                if f.kind == "numeric":
                    batch[f.name] = pd.to_numeric(batch[f.name], errors="coerce").astype(float)
            return explainer.predict(batch)

        def rows(frame: pd.DataFrame) -> np.ndarray:
            return frame.to_numpy(dtype=object)

        used = np.arange(len(names))
    plan = plan_for(len(names), len(bg))
    cheap = overview_plan(len(names), len(bg))

    def runner(chosen: Plan) -> Any:
        def run(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray, None]:
            base, values, errors = explain_rows(
                score, rows(frame), bg[: chosen.background_rows], used, chosen
            )
            return base, values, errors, None

        return run

    explainer.method, explainer.plan = "permutation", plan
    explainer._explain, explainer._overview = runner(plan), runner(cheap)
