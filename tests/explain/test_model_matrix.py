"""Every common scikit-learn model, in a Pipeline over mixed columns, explained: additive to
the model's own output, the same in two processes, and exact where the model allows it."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
import pytest
from pandas.api.types import is_numeric_dtype
from sklearn.compose import make_column_transformer
from sklearn.datasets import load_breast_cancer, load_diabetes
from sklearn.ensemble import (
    ExtraTreesClassifier,
    GradientBoostingClassifier,
    GradientBoostingRegressor,
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
    StackingClassifier,
)
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.neighbors import KNeighborsClassifier
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from sklearn.svm import SVC

from core.explain import Explainer, build_explainer
from core.registry.features import Feature
from tests.explain.brute_force import shapley

ROOT = Path(__file__).resolve().parents[2]
CLASSIFIERS = {
    "logistic": (lambda: LogisticRegression(max_iter=2000), "linear"),
    "random_forest": (lambda: RandomForestClassifier(20, max_depth=5, random_state=0), "tree"),
    "extra_trees": (lambda: ExtraTreesClassifier(20, max_depth=5, random_state=0), "tree"),
    "gradient_boosting": (
        lambda: GradientBoostingClassifier(n_estimators=20, max_depth=3, random_state=0),
        "tree",
    ),
    "hist_gradient_boosting": (
        lambda: HistGradientBoostingClassifier(max_iter=20, random_state=0),
        "tree",
    ),
    "svc": (lambda: SVC(probability=True, random_state=0), "permutation"),
    "k_neighbours": (lambda: KNeighborsClassifier(n_neighbors=15), "permutation"),
    "mlp": (
        lambda: MLPClassifier(hidden_layer_sizes=(16,), max_iter=300, random_state=0),
        "permutation",
    ),
    "stacking": (
        lambda: StackingClassifier(
            [
                ("forest", RandomForestClassifier(10, max_depth=4, random_state=0)),
                ("logistic", LogisticRegression(max_iter=2000)),
            ],
            final_estimator=LogisticRegression(),
            cv=3,
        ),
        "permutation",
    ),
}
REGRESSORS = {
    "linear_regression": (LinearRegression, "linear"),
    "random_forest_regressor": (
        lambda: RandomForestRegressor(20, max_depth=5, random_state=0),
        "tree",
    ),
    "gradient_boosting_regressor": (
        lambda: GradientBoostingRegressor(n_estimators=20, random_state=0),
        "tree",
    ),
    "hist_gradient_boosting_regressor": (
        lambda: HistGradientBoostingRegressor(max_iter=20, random_state=0),
        "tree",
    ),
}


def cancer(columns: int | None = None) -> tuple[pd.DataFrame, np.ndarray, list[Feature]]:
    """Breast-cancer rows (30 numbers, or the first COLUMNS), a size band as a category and
    every seventh 'mean texture' missing; the benign/malignant target."""
    data = load_breast_cancer(as_frame=True)
    x = data.data.iloc[:, : columns or 30].copy()
    x["size band"] = pd.cut(data.data["worst area"], 4, labels=list("abcd")).astype(str)
    x.loc[::7, "mean texture"] = np.nan
    return x, data.target.to_numpy(), _features(x)


def diabetes() -> tuple[pd.DataFrame, np.ndarray, list[Feature]]:
    """Diabetes rows with sex as a category and a few missing BMIs; disease progression."""
    data = load_diabetes(as_frame=True, scaled=False)
    x = data.data.copy()
    x["sex"] = np.where(x["sex"] == 1, "female", "male")
    x.loc[::9, "bmi"] = np.nan
    return x, data.target.to_numpy(), _features(x)


def _features(x: pd.DataFrame) -> list[Feature]:
    return [
        Feature(n, "numeric" if is_numeric_dtype(x[n]) else "categorical", f"c{i}")
        for i, n in enumerate(x.columns)
    ]


def mixed_pipeline(x: pd.DataFrame, estimator: Any) -> Any:
    """Impute and scale the numbers, one-hot the categories, then ESTIMATOR."""
    numbers = [n for n in x.columns if is_numeric_dtype(x[n])]
    categories = [n for n in x.columns if not is_numeric_dtype(x[n])]
    return make_pipeline(
        make_column_transformer(
            (make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), numbers),
            (OneHotEncoder(handle_unknown="ignore"), categories),
        ),
        estimator,
    )


def fit(kind: str, columns: int | None = None) -> tuple[Any, pd.DataFrame, list[Feature], str]:
    """(model, rows, features, positive label or '') of KIND fitted on its data set."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence warnings of the small models
        if kind in CLASSIFIERS:
            x, y, features = cancer(columns)
            return mixed_pipeline(x, CLASSIFIERS[kind][0]()).fit(x, y), x, features, "1"
        x, y, features = diabetes()
        if columns:
            x = x.iloc[:, :columns]
            features = features[:columns]
        return mixed_pipeline(x, REGRESSORS[kind][0]()).fit(x, y), x, features, ""


def explainer_of(kind: str, units: str, columns: int | None = None) -> tuple[Explainer, Any]:
    """The explainer of KIND with 100 of its rows as background, and the model's rows."""
    model, x, features, positive = fit(kind, columns)
    background = x.sample(100, random_state=0)
    return build_explainer(model, features, background, positive or None, units), x


def own_output(explainer: Explainer, rows: pd.DataFrame) -> np.ndarray:
    """The model's own output in the explainer's units, computed without ModelBridge."""
    model = explainer.model
    if explainer.positive_label is None:
        return model.predict(rows)
    p = model.predict_proba(rows)[:, 1]
    if explainer.units == "probability":
        return p
    p = np.clip(p, 1e-12, 1 - 1e-12)  # k-NN says 0 or 1: log-odds of +-27.6, as documented
    return np.log(p / (1 - p))


CASES = [(k, u) for k in CLASSIFIERS for u in ("probability", "log_odds")]
CASES += [(k, "probability") for k in REGRESSORS]


@pytest.fixture(scope="module")
def explainers() -> dict[tuple[str, str], tuple[Explainer, pd.DataFrame]]:
    """Explainers of every model kind and units, built once for this module."""
    return {(kind, units): explainer_of(kind, units) for kind, units in CASES}


@pytest.mark.parametrize(("kind", "units"), CASES)
def test_every_model_adds_up_to_its_own_output_and_takes_its_route(
    kind: str, units: str, explainers: dict
) -> None:
    explainer, x = explainers[(kind, units)]
    rows = x.iloc[[3, 7, 150, 300, 420]]  # row 7 misses its texture (cancer)

    explained = explainer.explain(rows)

    expected = own_output(explainer, rows)
    assert explainer.method == {**CLASSIFIERS, **REGRESSORS}[kind][1]
    for e, want in zip(explained, expected, strict=True):
        assert e.output == pytest.approx(want, abs=1e-12, rel=1e-12)
        assert abs(e.base_value + sum(e.contributions.values()) - want) <= 1e-9 * max(
            1.0, abs(want)
        )
        assert list(e.contributions) == explainer.names


@pytest.mark.parametrize(("kind", "units"), [c for c in CASES if c[0] in CLASSIFIERS])
def test_sampled_explanations_state_their_error_and_exact_ones_need_none(
    kind: str, units: str, explainers: dict
) -> None:
    explainer, x = explainers[(kind, units)]

    [e] = explainer.explain(x.iloc[[10]])

    if explainer.method == "permutation":
        assert e.plan is not None and e.plan.pairs == 4 and e.plan.background_rows == 100
        assert e.errors is not None and set(e.errors) == set(explainer.names)
        assert all(0 <= v < (0.2 if units == "probability" else np.inf) for v in e.errors.values())
        assert "4 antithetic pairs, seed 0" in e.note and "standard error" in e.note
    else:
        assert (e.plan, e.errors, e.note) == (None, None, "")


def test_a_logistic_model_gives_odds_ratios_of_its_log_odds_contributions(
    explainers: dict,
) -> None:
    rows = explainers[("logistic", "log_odds")][1].iloc[[3, 7]]
    in_points = explainers[("logistic", "probability")][0].explain(rows)
    in_log_odds = explainers[("logistic", "log_odds")][0].explain(rows)

    for p, lo in zip(in_points, in_log_odds, strict=True):
        assert p.odds_ratios is not None
        for name, ratio in p.odds_ratios.items():
            assert ratio == pytest.approx(np.exp(lo.contributions[name]), rel=1e-12)
        # The probability mapping keeps signs and scales every contribution alike
        factor = (p.output - p.base_value) / (lo.output - lo.base_value)
        for name, value in p.contributions.items():
            assert value == pytest.approx(lo.contributions[name] * factor, abs=1e-15)
    assert explainers[("random_forest", "probability")][0].explain(rows)[0].odds_ratios is None


def test_a_linear_case_takes_under_50_ms(explainers: dict) -> None:
    explainer, x = explainers[("logistic", "probability")]
    explainer.explain(x.iloc[[0]])
    fastest = min(_seconds(explainer.explain, x.iloc[[i]]) for i in range(1, 8))
    assert fastest < 0.05


def _seconds(fn: Any, *args: Any) -> float:
    start = time.perf_counter()
    fn(*args)
    return time.perf_counter() - start


# --- exact where the model allows it: brute force over every coalition ----------------------

EXACT = [
    ("logistic", "log_odds"),
    ("random_forest", "probability"),
    ("extra_trees", "probability"),
    ("gradient_boosting", "log_odds"),
    ("hist_gradient_boosting", "log_odds"),
    ("linear_regression", "probability"),
    ("random_forest_regressor", "probability"),
    ("gradient_boosting_regressor", "probability"),
    ("hist_gradient_boosting_regressor", "probability"),
]


@pytest.mark.parametrize(("kind", "units"), EXACT)
def test_linear_and_tree_models_are_the_brute_force_shapley_values_on_small_cases(
    kind: str, units: str
) -> None:
    # 6-7 inputs (numbers with gaps and a one-hot category), against the same 30 background rows
    model, x, features, positive = fit(kind, columns=6)
    background = x.sample(30, random_state=1).reset_index(drop=True)
    explainer = build_explainer(model, features, background, positive or None, units)
    assert len(features) <= 8 and explainer.method in ("linear", "tree")

    for i in (7, 21, 300):  # row 7 misses its texture
        row = x.iloc[[i]].reset_index(drop=True)
        base, phi = shapley(explainer.predict, row, background)
        [e] = explainer.explain(row)
        assert e.base_value == pytest.approx(base, abs=1e-9)
        for name in explainer.names:
            assert e.contributions[name] == pytest.approx(phi[name], abs=1e-9)


def test_forests_are_exact_in_probability_and_boosting_in_log_odds() -> None:
    # The other units are carried by the documented per-case factor (core.explain.units)
    model, x, features, positive = fit("gradient_boosting", columns=6)
    background = x.sample(30, random_state=1).reset_index(drop=True)
    row = x.iloc[[21]].reset_index(drop=True)
    log_odds = build_explainer(model, features, background, positive, "log_odds").explain(row)[0]

    [points] = build_explainer(model, features, background, positive, "probability").explain(row)

    sigmoid = 1 / (1 + np.exp(-log_odds.base_value))
    assert points.base_value == pytest.approx(sigmoid, abs=1e-15)
    factor = (points.output - sigmoid) / (log_odds.output - log_odds.base_value)
    for name, value in log_odds.contributions.items():
        assert points.contributions[name] == pytest.approx(value * factor, abs=1e-15)


# --- the same in every process ---------------------------------------------------------------

SCRIPT = """
import json, sys, joblib
from core.explain import build_explainer
models, rows = joblib.load(sys.argv[1])
out = {}
for (kind, units), (model, features, background, positive) in models.items():
    explained = build_explainer(model, features, background, positive, units).explain(rows[kind])
    out[f"{kind} {units}"] = [[e.base_value, e.contributions, e.errors] for e in explained]
print(json.dumps(out))
"""


def test_two_processes_give_identical_contributions_for_every_model(
    explainers: dict, tmp_path: Path
) -> None:
    shipped = {
        key: (e.model, e.features, x.sample(100, random_state=0), e.positive_label)
        for key, (e, x) in explainers.items()
        if key[1] == "probability"
    }
    rows = {kind: x.iloc[[3, 7, 200]] for (kind, _), (_, x) in explainers.items()}
    joblib.dump((shipped, rows), tmp_path / "models.joblib")
    runs = [
        subprocess.Popen(
            [sys.executable, "-c", SCRIPT, str(tmp_path / "models.joblib")],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    first, second = (json.loads(run.communicate(timeout=300)[0]) for run in runs)

    assert first == second  # to the last bit: JSON keeps every digit of a float
    assert len(first) == len(shipped)
    here = explainers[("svc", "probability")][0].explain(rows["svc"])
    assert [r[1] for r in first["svc probability"]] == [e.contributions for e in here]
