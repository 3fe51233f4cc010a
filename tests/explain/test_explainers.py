"""SHAP explanations: additive in the model's units, in the original features, loaded safely."""

from __future__ import annotations

import functools
import json
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest
import skops.io as sio
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.compose import make_column_transformer
from sklearn.ensemble import (
    GradientBoostingClassifier,
    GradientBoostingRegressor,
    RandomForestClassifier,
)
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder

from core.auth import Identity
from core.errors import InvalidInput
from core.explain import Explainer, build_explainer
from core.explain.cases import explain_case
from core.explain.global_importance import global_importance, importance_over_time
from core.files.sources import sha256_of
from core.ingest import ingest_predictions
from core.registry import RegistrationSpec, get_model, get_version, pickle_files, register_version
from core.registry.artifacts import load_model
from core.registry.features import Feature
from core.store import Store
from tests.explain.brute_force import shapley
from tests.factories import ADMIN, Case, binary_case

NAMES = ["income", "debt ratio", "segment"]
FEATURES = [
    Feature("income", "numeric", "f0"),
    Feature("debt ratio", "numeric", "f1"),
    Feature("segment", "categorical", "f2"),
]
WORDS = {
    "outcome": "default risk",
    "population": "applicants",
    "positive_outcome": "defaulted",
    "features": {
        "income": {"label": "Annual income", "unit": "EUR", "actionable": True},
        "debt ratio": {"label": "Debt-to-income", "unit": "%", "actionable": True},
        "segment": {"label": "Customer segment", "description": "Retail, SME or corporate."},
    },
}
TOLERANCE = 1e-6


# --- shared data, models and a store with logs (built once per session) -------------------------


@functools.cache
def population() -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """600 applicants (income, debt ratio, segment), a default label and a loss amount."""
    rng = np.random.default_rng(5)
    n = 600
    x = pd.DataFrame(
        {
            "income": rng.lognormal(10, 0.4, n).round(2),
            "debt ratio": rng.uniform(0, 60, n).round(1),
            "segment": rng.choice(["retail", "sme", "corporate"], n, p=[0.6, 0.3, 0.1]),
        }
    )
    logit = -2 + 0.06 * x["debt ratio"] - 0.4 * x["income"] / x["income"].mean()
    logit += 1.2 * (x["segment"] == "sme")
    y = (rng.uniform(size=n) < 1 / (1 + np.exp(-logit))).to_numpy().astype(int)
    loss = (0.01 * x["income"] + 8 * x["debt ratio"] + rng.normal(0, 20, n)).to_numpy()
    return x, y, loss


def pipeline(estimator: object) -> object:
    """Median-impute the numbers, one-hot the segment, then ESTIMATOR."""
    return make_pipeline(
        make_column_transformer(
            (SimpleImputer(strategy="median"), ["income", "debt ratio"]),
            (OneHotEncoder(handle_unknown="ignore", sparse_output=False), ["segment"]),
        ),
        estimator,
    )


@functools.cache
def fitted(kind: str) -> tuple[object, str | None]:
    """A fitted model of KIND and its positive label (None for regression)."""
    x, y, loss = population()
    bad_good = np.where(y == 1, "bad", "good")  # classes_ sort as ['bad', 'good']
    makers = {
        "gradient_boosting": lambda: (
            pipeline(GradientBoostingClassifier(n_estimators=40, random_state=0)).fit(x, y),
            "1",
        ),
        "random_forest": lambda: (
            pipeline(RandomForestClassifier(n_estimators=30, max_depth=5, random_state=0)).fit(
                x, bad_good
            ),
            "bad",
        ),
        "logistic": lambda: (pipeline(LogisticRegression(max_iter=1000)).fit(x, y), "1"),
        "logistic_bad_good": lambda: (
            pipeline(LogisticRegression(max_iter=1000)).fit(x, bad_good),
            "bad",
        ),
        "gradient_boosting_bad_good": lambda: (
            pipeline(GradientBoostingClassifier(n_estimators=40, random_state=0)).fit(x, bad_good),
            "bad",
        ),
        "linear_regression": lambda: (pipeline(LinearRegression()).fit(x, loss), None),
        "gradient_boosting_regressor": lambda: (
            pipeline(GradientBoostingRegressor(n_estimators=40, random_state=0)).fit(x, loss),
            None,
        ),
    }
    return makers[kind]()


def explainer_of(kind: str, units: str = "probability") -> Explainer:
    """The explainer of a fitted model, with the first 100 applicants as background."""
    model, positive = fitted(kind)
    return build_explainer(model, FEATURES, population()[0], positive, units)


def model_output(kind: str, units: str, rows: pd.DataFrame) -> np.ndarray:
    """What the model itself says for ROWS, in UNITS, computed without ModelBridge."""
    model, positive = fitted(kind)
    if positive is None:
        return model.predict(rows)
    classes = [str(c) for c in model.classes_]
    probability = model.predict_proba(rows)[:, classes.index(positive)]
    return probability if units == "probability" else np.log(probability / (1 - probability))


def rows_to_explain() -> pd.DataFrame:
    """20 applicants the background never saw, one with a missing income."""
    x = population()[0].iloc[400:420].reset_index(drop=True)
    x.loc[3, "income"] = np.nan
    return x


@functools.cache
def _explained_store(base: Path) -> Path:
    folder = base / "explained"
    files = binary_case(folder / "files")
    words = folder / "words.json"
    words.write_text(json.dumps(WORDS))
    store = Store(folder / "store.duckdb")
    store.init()
    register_version(
        store,
        spec=RegistrationSpec(
            model="credit",
            reference=files.reference,
            target="defaulted",
            prediction="score",
            model_file=files.model_file,
            feature_metadata=words,
            created_by="ci",
        ),
    )
    (result,) = ingest_predictions(store, model="credit", files=[files.logs])
    assert result.error is None, result.error
    return store.path


@pytest.fixture(scope="session")
def explained_store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    """Model 'credit' v1 (logistic pipeline, skops, words registered) with 400 logged cases.

    Read-only for tests. Its model and logs are tests.factories.binary_case's (seed 1).
    """
    return Store(_explained_store(tmp_path_factory.getbasetemp()))


# --- additivity and units --------------------------------------------------------------------

ADDITIVE = [
    ("gradient_boosting", "probability", "tree"),
    ("gradient_boosting", "log_odds", "tree"),
    ("random_forest", "probability", "tree"),
    ("random_forest", "log_odds", "tree"),
    ("logistic", "log_odds", "linear"),
    ("logistic", "probability", "linear"),
    ("linear_regression", "probability", "linear"),
    ("gradient_boosting_regressor", "probability", "tree"),
    ("gradient_boosting_bad_good", "probability", "tree"),
    ("gradient_boosting_bad_good", "log_odds", "tree"),
    ("logistic_bad_good", "log_odds", "linear"),
    ("logistic_bad_good", "probability", "linear"),
]


@pytest.mark.parametrize(("kind", "units", "method"), ADDITIVE)
def test_base_value_plus_contributions_is_the_models_own_output(
    kind: str, units: str, method: str
) -> None:
    explainer = explainer_of(kind, units)
    rows = rows_to_explain()

    explained = explainer.explain(rows)

    expected = model_output(kind, units, rows)
    assert explainer.method == method
    for e, want in zip(explained, expected, strict=True):
        assert e.output == pytest.approx(want, abs=1e-12)
        assert e.base_value + sum(e.contributions.values()) == pytest.approx(
            want, abs=TOLERANCE, rel=TOLERANCE
        )


def test_a_positive_label_that_is_not_the_models_second_class_is_explained_as_itself() -> None:
    # classes_ are ['bad', 'good']; one-output models score 'good', the positive label is 'bad'
    rows = rows_to_explain()
    bad = explainer_of("gradient_boosting_bad_good").explain(rows)
    model, _ = fitted("gradient_boosting_bad_good")

    assert list(model.classes_) == ["bad", "good"]
    assert [e.output for e in bad] == pytest.approx(model.predict_proba(rows)[:, 0], abs=1e-12)
    # The drivers point the other way than for 'good': more debt raises the risk of 'bad'
    debt = np.array([e.contributions["debt ratio"] for e in bad])
    high = rows["debt ratio"].to_numpy() > rows["debt ratio"].median()
    assert debt[high].mean() > 0 > debt[~high].mean()


def test_log_odds_of_a_linear_classifier_are_its_decision_function_for_the_positive_label():
    rows = rows_to_explain()
    model, _ = fitted("logistic_bad_good")

    explained = explainer_of("logistic_bad_good", "log_odds").explain(rows)

    assert [e.output for e in explained] == pytest.approx(-model.decision_function(rows))


def test_regression_explanations_are_in_the_units_of_the_prediction() -> None:
    e = explainer_of("linear_regression").explain(rows_to_explain().head(1))[0]
    assert e.units == "prediction"
    assert explainer_of("gradient_boosting", "log_odds").explain(rows_to_explain())[0].units == (
        "log_odds"
    )


def test_unknown_units_are_refused() -> None:
    with pytest.raises(InvalidInput, match="unknown units 'percent'; use probability or log_odds"):
        explainer_of("logistic", "percent")


def test_a_random_forest_is_explained_on_the_positive_class_as_brute_force_shapley_values():
    # classes_ are ['bad', 'good']: the positive label 'bad' is the first class
    rows = rows_to_explain().head(4)
    explainer = explainer_of("random_forest")
    background = population()[0].head(100)

    explained = explainer.explain(rows)

    assert list(fitted("random_forest")[0].classes_) == ["bad", "good"]
    for e, i in zip(explained, range(len(rows)), strict=True):
        base, phi = shapley(explainer.predict, rows.iloc[[i]].reset_index(drop=True), background)
        assert e.base_value == pytest.approx(base, abs=1e-12)
        assert e.contributions == pytest.approx(phi, abs=1e-12)


# --- a pipeline is explained in the features the user sent --------------------------------------


def test_a_one_hot_pipeline_is_explained_in_its_original_features() -> None:
    # The segment's three one-hot columns are one player: always taken from the same row
    model, _ = fitted("gradient_boosting")
    rows = rows_to_explain()
    explainer = explainer_of("gradient_boosting", "log_odds")

    explained = explainer.explain(rows)

    assert list(model[:-1].get_feature_names_out()) == [
        "simpleimputer__income",
        "simpleimputer__debt ratio",
        "onehotencoder__segment_corporate",
        "onehotencoder__segment_retail",
        "onehotencoder__segment_sme",
    ]
    for i in (0, 3, 7):  # row 3 misses its income
        row = rows.iloc[[i]].reset_index(drop=True)
        base, phi = shapley(explainer.predict, row, population()[0].head(100))
        assert list(explained[i].contributions) == NAMES
        assert explained[i].contributions == pytest.approx(phi, abs=1e-9)
        assert explained[i].values["segment"] == row.iloc[0]["segment"]
    assert explained[3].values["income"] is None  # a missing value is shown as missing


class _Doubler(BaseEstimator, TransformerMixin):
    """A transformer without feature names: the explainer cannot map its columns back."""

    def fit(self, x: object, y: object = None) -> _Doubler:
        self.fitted_ = True
        return self

    def transform(self, x: pd.DataFrame) -> np.ndarray:
        return 2 * np.asarray(x, dtype=float)


def test_without_feature_names_a_per_column_step_is_found_and_explained_exactly():
    x, _, loss = population()
    numbers = x[["income", "debt ratio"]]
    model = make_pipeline(_Doubler(), LinearRegression()).fit(numbers, loss)
    background = numbers.head(100)
    rows = numbers.iloc[400:410].reset_index(drop=True)

    explainer = build_explainer(model, FEATURES[:2], background, None)
    explained = explainer.explain(rows)

    # Each output column moves with one input column only: the linear route applies.
    slopes = 2 * model[-1].coef_
    assert explainer.method == "linear"
    for e, (_, row) in zip(explained, rows.iterrows(), strict=True):
        for j, name in enumerate(["income", "debt ratio"]):
            exact = slopes[j] * (row[name] - background[name].mean())
            assert e.contributions[name] == pytest.approx(exact, rel=1e-9, abs=1e-9)
    assert explainer.explain(rows) == explained  # the same case always reads the same


def test_a_model_whose_true_class_is_a_boolean_is_explained_for_the_label_true() -> None:
    x, y, _ = population()
    model = pipeline(LogisticRegression(max_iter=1000)).fit(x, y.astype(bool))

    explained = build_explainer(model, FEATURES, x, "true").explain(rows_to_explain())

    want = model.predict_proba(rows_to_explain())[:, 1]
    assert [e.output for e in explained] == pytest.approx(want, abs=1e-12)


# --- the model file is loaded safely, and the explanation says how -----------------------------


def test_a_skops_file_holding_a_type_outside_the_allow_list_is_not_loaded(tmp_path: Path) -> None:
    x, y, _ = population()
    path = tmp_path / "doubled.skops"
    sio.dump(make_pipeline(_Doubler(), LogisticRegression()).fit(x[NAMES[:2]], y), path)

    with pytest.raises(InvalidInput) as refused:
        load_model(path, expected_sha256=sha256_of(path))

    assert str(refused.value) == (
        "doubled.skops: refused, it contains types outside the allow-list: "
        "tests.explain.test_explainers._Doubler"
    )


def _register_joblib(store: Store, files: Case, tmp_path: Path) -> Path:
    """Register FILES' model from a joblib file, as an engineer where an admin allowed pickles;
    return the stored (converted) file."""
    path = tmp_path / "model.joblib"
    joblib.dump(files.model, path)
    pickle_files.set_allowed(store, allow=True, by=ADMIN)
    register_version(
        store,
        spec=RegistrationSpec(
            model="credit",
            reference=files.reference,
            target="defaulted",
            prediction="score",
            model_file=path,
        ),
        by=Identity("erin", "ml_engineer"),
    )
    ingest_predictions(store, model="credit", files=[files.logs])
    with store.read() as r:
        return Path(get_version(r, model=get_model(r, name="credit")).artifact_path or "")


def test_a_model_registered_as_a_pickle_is_explained_from_its_skops_copy(
    store: Store, binary_files: Case, tmp_path: Path
) -> None:
    stored = _register_joblib(store, binary_files, tmp_path)

    case = explain_case(store, model="credit", request_id="req-00007")

    assert stored.suffix == ".skops"
    assert case.loaded_with == "skops, allow-listed types only"
    assert case.as_dict()["model_file"] == "skops, allow-listed types only"


def test_a_model_file_changed_after_registration_is_refused_when_explaining(
    store: Store, binary_files: Case, tmp_path: Path
) -> None:
    stored = _register_joblib(store, binary_files, tmp_path)
    with stored.open("ab") as fh:
        fh.write(b"\x00")

    with pytest.raises(InvalidInput) as refused:
        explain_case(store, model="credit", request_id="req-00007")

    assert str(refused.value) == (
        f"{stored.name}: refused, its sha256 differs from the one registered; the file was "
        "changed after registration"
    )


def test_an_explanation_says_its_skops_file_was_loaded_with_allow_listed_types_only(
    explained_store: Store,
) -> None:
    case = explain_case(explained_store, model="credit", request_id="req-00007")
    assert case.loaded_with == "skops, allow-listed types only"


# --- what drives the model overall, and how that changes over time ------------------------------


def shifting_logs() -> pd.DataFrame:
    """60 logged cases a week for two weeks: the debt ratio varies only in the first week.

    In the second every case has the typical debt ratio and a far wider spread of incomes, so
    the debt ratio stops driving the scores.
    """
    x = population()[0].iloc[400:460].reset_index(drop=True)
    wide_incomes = np.random.default_rng(11).lognormal(10, 1.0, len(x)).round(2)
    first = x.assign(
        income=float(x["income"].median()),
        timestamp=pd.date_range("2026-03-02", periods=len(x), freq="2h", tz="UTC"),
    )
    second = x.assign(
        income=wide_incomes,
        timestamp=pd.date_range("2026-03-09", periods=len(x), freq="2h", tz="UTC"),
    )
    second["debt ratio"] = float(population()[0]["debt ratio"].head(80).median())
    weeks = pd.concat([first, second], ignore_index=True)
    return weeks.assign(request_id=[f"case-{i:03d}" for i in range(len(weeks))])


@functools.cache
def _booster_store(base: Path) -> Path:
    folder = base / "booster"
    folder.mkdir()
    model, _ = fitted("gradient_boosting")
    x, y, _ = population()
    reference = x.head(80).assign(defaulted=y[:80], score=model.predict_proba(x.head(80))[:, 1])
    reference.to_parquet(folder / "reference.parquet", index=False)
    logs = shifting_logs()
    logs.assign(score=model.predict_proba(logs[NAMES])[:, 1]).to_parquet(folder / "logs.parquet")
    sio.dump(model, folder / "model.skops")
    store = Store(folder / "store.duckdb")
    store.init()
    register_version(
        store,
        spec=RegistrationSpec(
            model="booster",
            reference=folder / "reference.parquet",
            target="defaulted",
            prediction="score",
            model_file=folder / "model.skops",
        ),
    )
    (result,) = ingest_predictions(store, model="booster", files=[folder / "logs.parquet"])
    assert result.error is None, result.error
    return store.path


@pytest.fixture(scope="session")
def booster_store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    """Model 'booster' v1: fitted('gradient_boosting'), its first 80 applicants as the reference
    (all of them the background), and shifting_logs() logged. Read-only for tests."""
    return Store(_booster_store(tmp_path_factory.getbasetemp()))


def mean_abs_contribution(store: Store, rows: pd.DataFrame) -> pd.Series:
    """Mean |contribution| per original feature of the booster on ROWS, on the overview plan
    of the version's own explainer."""
    from core.explain import explainer_for

    with store.read() as r:
        model = get_model(r, name="booster")
        explainer = explainer_for(store, model=model, version=get_version(r, model=model))
    explained = explainer.explain(rows[NAMES], overview=True)
    table = pd.DataFrame([e.contributions for e in explained])
    return table.abs().mean()


def test_global_importance_is_the_mean_absolute_contribution_of_each_original_feature(
    booster_store: Store,
) -> None:
    importance = global_importance(booster_store, model="booster", sample=200).set_index("feature")

    reference = mean_abs_contribution(booster_store, population()[0].head(80))
    production = mean_abs_contribution(booster_store, shifting_logs())
    assert list(importance.index) == list(production.sort_values(ascending=False).index)
    for name in NAMES:
        assert importance.loc[name, "reference"] == pytest.approx(reference[name], abs=1e-9)
        assert importance.loc[name, "production"] == pytest.approx(production[name], abs=1e-9)


def test_explanation_drift_ranks_the_features_of_each_window_by_their_mean_absolute_contribution(
    booster_store: Store,
) -> None:
    weeks = importance_over_time(booster_store, model="booster", period="W")

    logs = shifting_logs()
    by_week = [
        mean_abs_contribution(booster_store, logs.iloc[:60]),
        mean_abs_contribution(booster_store, logs.iloc[60:]),
    ]
    starts = sorted(weeks["window_start"].unique())
    assert len(starts) == 2
    for start, direct in zip(starts, by_week, strict=True):
        week = weeks[weeks["window_start"] == start].set_index("feature")
        assert list(week.sort_values("rank").index) == list(
            direct.sort_values(ascending=False).index
        )
        for name in NAMES:
            assert week.loc[name, "importance"] == pytest.approx(direct[name], abs=1e-9)
    ranks = weeks.pivot(index="window_start", columns="feature", values="rank")
    # The strongest driver, then no longer once every case has the same debt ratio
    assert ranks["debt ratio"].iloc[0] == 1 < ranks["debt ratio"].iloc[1]


# --- the explainer cache ---------------------------------------------------------------------


def test_an_explainer_is_built_once_per_version_and_units_and_then_reused(
    explained_store: Store,
) -> None:
    from core.explain import version_explainer as explain
    from core.registry import get_model, get_version

    with explained_store.read() as r:
        model = get_model(r, name="credit")
        version = get_version(r, model=model, version=1)
    explain._cached_explainer.cache_clear()

    first = explain.explainer_for(explained_store, model=model, version=version)
    again = explain.explainer_for(explained_store, model=model, version=version)
    other_units = explain.explainer_for(
        explained_store, model=model, version=version, units="log_odds"
    )
    info = explain._cached_explainer.cache_info()

    assert again is first
    assert other_units is not first
    assert (info.hits, info.misses, info.currsize) == (1, 2, 2)
