"""The model-agnostic explainer's plan: set by the model, never by the clock, with its error."""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.neighbors import KNeighborsClassifier

from core.explain import build_explainer
from core.explain.cases import explain_case
from core.explain.permutation import Plan, explain_rows, plan_for
from core.store import Store
from tests.explain.brute_force import shapley
from tests.explain.test_explainers import (  # noqa: F401  (fixture)
    FEATURES,
    explained_store,
    pipeline,
    population,
    rows_to_explain,
)


@functools.cache
def neighbours() -> Any:
    """A k-nearest-neighbours credit model: neither a tree nor linear."""
    x, y, _ = population()
    return pipeline(KNeighborsClassifier(n_neighbors=15)).fit(x, y)


class Counted:
    """A fitted model that counts the rows it scores."""

    def __init__(self, model: Any) -> None:
        self.model, self.rows, self.classes_ = model, 0, model.classes_

    def predict_proba(self, x: Any) -> np.ndarray:
        self.rows += len(x)
        return self.model.predict_proba(x)


def test_the_plan_depends_on_the_number_of_inputs_and_background_rows_only() -> None:
    assert plan_for(30, 100) == Plan(30, 100, 4)
    assert plan_for(30, 100).scored_rows == 230 * 100  # 4 seeded pairs: 230 distinct coalitions
    assert plan_for(20, 100) == Plan(20, 100, 6)
    assert plan_for(8, 100) == Plan(8, 100, 0)  # 256 coalitions x 100 rows: all of them, exact
    assert plan_for(3, 6) == Plan(3, 6, 0)
    assert plan_for(200, 1000).background_rows == 100


def test_a_case_scores_exactly_the_planned_rows() -> None:
    model = Counted(neighbours())
    explainer = build_explainer(model, FEATURES, population()[0], "1")
    before = model.rows

    explainer.explain(rows_to_explain().head(1))

    assert explainer.method == "permutation" and explainer.plan == Plan(3, 100, 0)
    assert model.rows - before == 8 * 100 + 1  # every coalition of 3, and the row itself


def test_with_few_inputs_every_coalition_is_scored_and_the_values_are_exact() -> None:
    x = population()[0]
    explainer = build_explainer(neighbours(), FEATURES, x, "1")
    row = rows_to_explain().iloc[[5]].reset_index(drop=True)

    [e] = explainer.explain(row)

    base, phi = shapley(explainer.predict, row, x.head(100).reset_index(drop=True))
    assert e.base_value == pytest.approx(base, abs=1e-12)
    assert e.contributions == pytest.approx(phi, abs=1e-12)
    assert e.errors == {n: 0.0 for n in e.contributions}
    assert e.note == "Exact: All 8 coalitions of the 3 inputs against 100 reference rows."


def _interactions(x: np.ndarray) -> np.ndarray:
    return x[:, 0] * x[:, 1] + np.sin(x[:, 2] * x[:, 3]) + x[:, 4:].sum(axis=1) ** 2 / 10


def test_the_standard_error_covers_the_distance_to_the_exact_values() -> None:
    # 9 inputs: 4 antithetic pairs of orderings are sampled; the exact values come from all
    # 512 coalitions of the same background
    rng = np.random.default_rng(3)
    rows, background = rng.normal(size=(40, 9)), rng.normal(size=(50, 9))
    groups = np.arange(9)

    _, sampled, errors = explain_rows(_interactions, rows, background, groups, Plan(9, 50, 4))
    _, exact, none = explain_rows(_interactions, rows, background, groups, Plan(9, 50, 0))

    assert (none == 0).all() and (errors > 0).any()
    within = np.abs(sampled - exact) <= 3 * errors + 1e-12
    assert within.mean() > 0.9
    # Each pair's estimate adds up, so the sampled values add up as the exact ones do
    assert sampled.sum(axis=1) == pytest.approx(exact.sum(axis=1), abs=1e-12)


def test_more_pairs_of_orderings_bring_the_error_down() -> None:
    rng = np.random.default_rng(4)
    rows, background = rng.normal(size=(20, 12)), rng.normal(size=(30, 12))
    groups = np.arange(12)

    few = explain_rows(_interactions, rows, background, groups, Plan(12, 30, 2))[2]
    many = explain_rows(_interactions, rows, background, groups, Plan(12, 30, 32))[2]

    assert many.mean() < few.mean() / 2


def test_the_same_plan_gives_the_same_numbers_whatever_the_machine_is_doing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The budget setting of earlier versions is gone: setting it changes nothing
    rows = rows_to_explain()
    first = build_explainer(neighbours(), FEATURES, population()[0], "1").explain(rows)
    monkeypatch.setenv("MODELBRIDGE_EXPLAIN_BUDGET", "0.001")

    again = build_explainer(neighbours(), FEATURES, population()[0], "1").explain(rows)

    assert again == first


def test_the_json_of_a_logistic_case_gives_odds_ratios_and_no_sampling(
    explained_store: Store,  # noqa: F811
) -> None:
    case = explain_case(explained_store, model="credit", request_id="req-00011")

    data = case.as_dict()
    assert case.explanation.method == "linear"
    assert (data["sampling"], data["errors"]) == (None, None)
    assert data["odds_ratios"] == {
        n: pytest.approx(v) for n, v in case.explanation.odds_ratios.items()
    }
    assert set(data["odds_ratios"]) == {"income", "debt ratio", "segment"}


def test_the_json_of_a_sampled_case_states_its_plan_and_errors() -> None:
    frame = pd.DataFrame(np.random.default_rng(0).normal(size=(200, 10)))
    frame.columns = [f"x{i}" for i in range(10)]
    y = (frame["x0"] * frame["x1"] > 0).astype(int)
    from core.registry.features import Feature

    features = [Feature(n, "numeric", f"c{i}") for i, n in enumerate(frame.columns)]
    model = KNeighborsClassifier(n_neighbors=7).fit(frame, y)

    [e] = build_explainer(model, features, frame, "1").explain(frame.iloc[[0]])

    assert e.plan == Plan(10, 100, 14)
    assert e.errors is not None and max(e.errors.values()) > 0
    assert e.note.startswith(
        "Estimated from 28 feature orderings (14 antithetic pairs, seed 0) against 100 "
        "reference rows, fixed for 10 inputs; each contribution is within about ±"
    )
    assert e.note.endswith(" points (one standard error, the largest shown).")
