"""The permutation explainer's time budget: fewer samples for a slow model, said in plain words."""

from __future__ import annotations

import functools
import time
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.calibration import CalibratedClassifierCV
from sklearn.neighbors import KNeighborsClassifier
from sklearn.neural_network import MLPClassifier
from sklearn.svm import SVC

from core.errors import InvalidInput
from core.explain import Explainer, build_explainer
from core.explain.cases import explain_case
from core.explain.permutation import plan_sampling
from core.settings import Settings
from core.store import Store
from tests.explain.test_explainers import (  # noqa: F401  (fixture)
    FEATURES,
    TOLERANCE,
    explained_store,
    pipeline,
    population,
    rows_to_explain,
)


class Metered:
    """A fitted model whose calls advance a stub clock by SECONDS_PER_ROW for every row scored.

    The clock measures the model's work and nothing else, so the sizes the budget chooses are
    the same on a busy machine as on an idle one.
    """

    def __init__(self, model: Any, seconds_per_row: float) -> None:
        self.model, self.seconds_per_row, self.now = model, seconds_per_row, 0.0
        self.classes_ = model.classes_

    def clock(self) -> float:
        """The time the model has spent so far, by its own account."""
        return self.now

    def predict_proba(self, x: pd.DataFrame) -> np.ndarray:
        self.now += len(x) * self.seconds_per_row
        return self.model.predict_proba(x)


class Sleepy(Metered):
    """A fitted model that really sleeps SECONDS_PER_ROW for every row it scores."""

    def predict_proba(self, x: pd.DataFrame) -> np.ndarray:
        time.sleep(len(x) * self.seconds_per_row)
        return self.model.predict_proba(x)


@functools.cache
def neighbours() -> Any:
    """A k-nearest-neighbours credit model: neither a tree nor linear, so it is permuted."""
    x, y, _ = population()
    return pipeline(KNeighborsClassifier(n_neighbors=15)).fit(x, y)


def metered_explainer(seconds_per_row: float, budget: float) -> tuple[Explainer, Metered]:
    """The explainer of the neighbours model timed by its stub clock, 100 background rows."""
    model = Metered(neighbours(), seconds_per_row)
    explainer = build_explainer(
        model, FEATURES, population()[0], "1", budget_seconds=budget, clock=model.clock
    )
    return explainer, model


def assert_additive(explainer: Explainer, rows: pd.DataFrame) -> None:
    """Base value + contributions = the model's own probability, for every row."""
    explained = explainer.explain(rows)
    want = explainer.model.predict_proba(rows)[:, 1]
    for e, output in zip(explained, want, strict=True):
        assert e.output == pytest.approx(output, abs=1e-12)
        total = e.base_value + sum(e.contributions.values())
        assert total == pytest.approx(output, abs=TOLERANCE, rel=TOLERANCE)


# --- the sizes chosen for a measured cost per row ------------------------------------------------


def test_a_fast_model_keeps_the_full_orderings_and_background() -> None:
    explainer, _ = metered_explainer(seconds_per_row=1e-6, budget=2.0)

    sampling = explainer.sampling
    assert explainer.method == "permutation"
    assert (sampling.permutations, sampling.background_rows) == (8, 100)
    assert not sampling.reduced and not sampling.over_budget
    assert sampling.estimated_seconds == pytest.approx(8 * 100 * 1e-6)  # 8 coalitions of 3
    assert explainer.explain(rows_to_explain().head(1))[0].note == (
        "Sampled 8 feature orderings against 100 background rows."
    )
    assert_additive(explainer, rows_to_explain())


def test_a_slow_model_is_explained_against_fewer_background_rows_and_says_so() -> None:
    # 8 coalitions x 100 rows x 1 ms = 0.8 s; 0.21 s affords 210 scored rows: 26 per coalition,
    # 25 on the steps a plan chooses from
    explainer, _ = metered_explainer(seconds_per_row=1e-3, budget=0.21)

    sampling = explainer.sampling
    assert (sampling.permutations, sampling.background_rows) == (8, 25)
    assert sampling.reduced and not sampling.over_budget
    assert sampling.estimated_seconds == pytest.approx(8 * 25 * 1e-3)
    [explained] = explainer.explain(rows_to_explain().head(1))
    assert explained.sampling == sampling
    assert explained.note == (
        "Approximate: reduced to 25 background rows (of 100) to answer within 0.21 s."
    )
    assert_additive(explainer, rows_to_explain())


def test_a_case_reduced_by_the_budget_is_still_scored_once_per_coalition_and_background_row() -> (
    None
):
    explainer, model = metered_explainer(seconds_per_row=1e-3, budget=0.21)
    before = model.now

    explainer.explain(rows_to_explain().head(1))

    # 25 background rows x 8 coalitions, plus the one row itself for its output
    assert model.now - before == pytest.approx((8 * 25 + 1) * 1e-3)


def test_a_model_too_slow_for_the_minimum_still_answers_and_says_it_takes_longer() -> None:
    # Even 10 background rows x 6 coalitions (one pair of orderings) need 0.6 s at 10 ms a row
    explainer, _ = metered_explainer(seconds_per_row=1e-2, budget=0.2)

    sampling = explainer.sampling
    assert (sampling.permutations, sampling.background_rows) == (2, 10)
    assert sampling.reduced and sampling.over_budget
    assert sampling.estimated_seconds == pytest.approx(0.6)
    assert explainer.explain(rows_to_explain().head(1))[0].note == (
        "Approximate: reduced to the minimum, 10 background rows (of 100) and 2 feature "
        "orderings (of 8); it still takes about 0.6 s per case, longer than the 0.2 s budget."
    )
    assert_additive(explainer, rows_to_explain())


def test_with_many_features_fewer_orderings_are_used_once_ten_background_rows_do_not_fit() -> None:
    # 20 features: 148 coalitions for 4 pairs of orderings, 112 for 3, 78 for 2, 40 for 1
    sampling = plan_sampling(20, 100, seconds_per_row=1e-3, budget_seconds=1.0)

    assert (sampling.permutations, sampling.background_rows) == (4, 10)
    assert sampling.estimated_seconds == pytest.approx(0.78)
    assert sampling.note == (
        "Approximate: reduced to 10 background rows (of 100) and 4 feature orderings (of 8) to "
        "answer within 1 s."
    )


def test_a_background_smaller_than_the_floor_is_used_whole() -> None:
    sampling = plan_sampling(3, 6, seconds_per_row=1.0, budget_seconds=1.0)

    assert (sampling.permutations, sampling.background_rows) == (2, 6)
    assert sampling.full_background_rows == 6
    assert sampling.over_budget


def test_the_estimate_for_a_fast_model_comes_from_a_batch_bigger_than_the_first_call() -> None:
    # A model whose every call costs 5 ms whatever its size: the first, 5-row call alone would
    # say 1 ms a row and cut the background down; a bigger batch shows the cost is per call.
    class Overhead(Metered):
        def predict_proba(self, x: pd.DataFrame) -> np.ndarray:
            self.now += 5e-3
            return self.model.predict_proba(x)

    model = Overhead(neighbours(), 0.0)
    explainer = build_explainer(
        model, FEATURES, population()[0], "1", budget_seconds=0.5, clock=model.clock
    )

    assert (explainer.sampling.permutations, explainer.sampling.background_rows) == (8, 100)


# --- real models and a real clock ----------------------------------------------------------------


@pytest.mark.parametrize(
    "estimator",
    [
        CalibratedClassifierCV(SVC(random_state=0), ensemble=False),
        KNeighborsClassifier(n_neighbors=15),
        MLPClassifier(hidden_layer_sizes=(8,), max_iter=300, random_state=0),
    ],
    ids=["svc", "k_neighbours", "mlp"],
)
def test_models_that_are_neither_trees_nor_linear_are_permuted_within_the_default_budget(
    estimator: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MODELBRIDGE_EXPLAIN_BUDGET", raising=False)
    x, y, _ = population()
    model = pipeline(estimator).fit(x, y)

    explainer = build_explainer(model, FEATURES, x, "1")

    assert explainer.method == "permutation"
    assert explainer.sampling.budget_seconds == 2.0
    assert_additive(explainer, rows_to_explain().head(5))


def test_a_model_that_really_sleeps_is_cut_down_to_fit_a_small_budget() -> None:
    # 1 ms a row, measured with the real clock: the full 800 scored rows would take 0.8 s or more
    model = Sleepy(neighbours(), 1e-3)

    explainer = build_explainer(model, FEATURES, population()[0], "1", budget_seconds=0.25)

    sampling = explainer.sampling
    assert sampling.reduced
    assert sampling.background_rows < 100
    assert explainer.explain(rows_to_explain().head(1))[0].note.startswith(
        "Approximate: reduced to "
    )
    assert_additive(explainer, rows_to_explain().head(2))


# --- where the budget comes from, and where the note goes -----------------------------------------


def test_the_budget_comes_from_modelbridge_explain_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODELBRIDGE_EXPLAIN_BUDGET", "0.21")
    model = Metered(neighbours(), 1e-3)

    explainer = build_explainer(model, FEATURES, population()[0], "1", clock=model.clock)

    assert Settings.from_env().explain_budget_seconds == 0.21
    assert (explainer.sampling.budget_seconds, explainer.sampling.background_rows) == (0.21, 25)


@pytest.mark.parametrize("value", ["soon", "0", "-1", "inf"])
def test_a_budget_that_is_not_a_positive_number_of_seconds_is_refused(
    value: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MODELBRIDGE_EXPLAIN_BUDGET", value)

    with pytest.raises(InvalidInput) as refused:
        Settings.from_env()

    assert str(refused.value) == (
        f"MODELBRIDGE_EXPLAIN_BUDGET must be a number of seconds above 0, not {value!r}"
    )
    with pytest.raises(InvalidInput, match="the explanation budget must be a number of seconds"):
        build_explainer(neighbours(), FEATURES, population()[0], "1", budget_seconds=0)


def test_a_tree_model_is_exact_and_has_no_sampling_note() -> None:
    from sklearn.ensemble import GradientBoostingClassifier

    x, y, _ = population()
    model = pipeline(GradientBoostingClassifier(n_estimators=10, random_state=0)).fit(x, y)

    [explained] = build_explainer(model, FEATURES, x, "1").explain(rows_to_explain().head(1))

    assert (explained.method, explained.sampling, explained.note) == ("tree", None, "")


def test_the_json_of_a_permuted_case_says_what_was_sampled(explained_store: Store) -> None:  # noqa: F811
    # 'credit' is a logistic pipeline explained in probability units: the permutation route
    case = explain_case(explained_store, model="credit", request_id="req-00011")

    data = case.as_dict()["sampling"]
    sampling = case.explanation.sampling
    assert case.explanation.method == "permutation"
    assert data == {
        "permutations": sampling.permutations,
        "background_rows": sampling.background_rows,
        "reduced": sampling.reduced,
        "over_budget": sampling.over_budget,
        "budget_seconds": sampling.budget_seconds,
        "estimated_seconds": sampling.estimated_seconds,
        "note": case.explanation.note,
    }
    assert data["note"].startswith(("Sampled ", "Approximate: reduced to "))


def test_a_little_more_or_less_speed_does_not_change_the_plan_or_the_numbers() -> None:
    # The same case explained by the CLI and by the page, one up to 20 % slower than the other:
    # 10 features pass through 66 coalitions; 1 s affords 66-76 rows per coalition, all on the
    # step of 60 rows.
    plans = {
        (s.permutations, s.background_rows)
        for s in (
            plan_sampling(10, 100, seconds_per_row=per_row, budget_seconds=1.0)
            for per_row in (0.2e-3, 0.21e-3, 0.22e-3, 0.23e-3, 0.24e-3)
        )
    }
    assert plans == {(8, 60)}
