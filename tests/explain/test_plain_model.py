"""A model's plain form (arrays beside its file) explains every case exactly as the scikit-learn
model it was read from, and is used only for that model file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier

from core.explain import build_explainer
from core.explain.plain_model import PlainModel, keep_plain, load_plain, plain_file
from tests.explain.test_explainers import (
    FEATURES,
    _Doubler,
    fitted,
    pipeline,
    population,
    rows_to_explain,
)

SHA = "0" * 64
KINDS = [
    "gradient_boosting",
    "gradient_boosting_bad_good",
    "random_forest",
    "logistic",
    "logistic_bad_good",
    "linear_regression",
    "gradient_boosting_regressor",
]


def _model(kind: str) -> tuple[object, str | None]:
    """test_explainers' fitted models, and a few more kinds of step."""
    x, y, _ = population()
    if kind == "single_tree":
        return pipeline(DecisionTreeClassifier(max_depth=4, random_state=0)).fit(x, y), "1"
    if kind == "forest_without_preprocessing":
        numbers = x[["income", "debt ratio"]]
        return RandomForestClassifier(n_estimators=10, random_state=0).fit(numbers, y), "1"
    if kind == "scaled_logistic":
        numbers = x[["income", "debt ratio"]]
        return make_pipeline(StandardScaler(), LogisticRegression()).fit(numbers, y), "1"
    return fitted(kind)


def _features(kind: str) -> list:
    return FEATURES[:2] if kind in ("forest_without_preprocessing", "scaled_logistic") else FEATURES


def _cases(kind: str) -> pd.DataFrame:
    """Cases the background never saw: one with a missing income, one with an unseen and one
    with a missing segment."""
    rows = rows_to_explain()
    rows.loc[5, "segment"] = "public sector"
    rows.loc[6, "segment"] = None
    rows["segment"] = rows["segment"].astype(object)
    if kind in ("forest_without_preprocessing", "scaled_logistic"):
        return rows[["income", "debt ratio"]].drop(index=3).reset_index(drop=True)
    return rows


def _plain(kind: str, folder: Path) -> PlainModel:
    """KIND's model read into its plain form, kept in FOLDER and loaded back."""
    model, _ = _model(kind)
    model_file = folder / f"{SHA}.skops"
    model_file.write_bytes(b"the model file")
    background = population()[0][[f.name for f in _features(kind)]].head(100)
    assert keep_plain(model, _features(kind), background, model_file, SHA) is not None
    loaded = load_plain(model_file, sha256=SHA)
    assert loaded is not None
    return loaded


PAIRS = [(kind, units) for kind in KINDS for units in ("probability", "log_odds")] + [
    ("single_tree", "probability"),
    ("forest_without_preprocessing", "log_odds"),
    ("scaled_logistic", "probability"),
]


@pytest.mark.parametrize(("kind", "units"), PAIRS)
def test_a_plain_model_explains_every_case_exactly_as_its_scikit_learn_model(
    kind: str, units: str, tmp_path: Path
) -> None:
    model, positive = _model(kind)
    background = population()[0][[f.name for f in _features(kind)]].head(100)
    full = build_explainer(model, _features(kind), background, positive, units)
    light = build_explainer(_plain(kind, tmp_path), _features(kind), background, positive, units)
    cases = _cases(kind)

    assert light.method == full.method
    assert light.explain(cases) == full.explain(cases)  # every figure, to the bit
    assert light.explain(cases, overview=True) == full.explain(cases, overview=True)
    assert np.array_equal(light.predict(cases), full.predict(cases))


@pytest.mark.parametrize("kind", ["gradient_boosting", "random_forest", "logistic"])
def test_a_plain_model_scores_every_class_as_its_model(kind: str, tmp_path: Path) -> None:
    model, _ = _model(kind)
    plain = _plain(kind, tmp_path)
    cases = _cases(kind)

    assert np.array_equal(plain.predict_proba(cases), model.predict_proba(cases))
    assert [str(c) for c in plain.classes_] == [str(c) for c in model.classes_]


@pytest.mark.parametrize(
    "model",
    [
        pipeline(HistGradientBoostingClassifier(max_iter=10)),  # boosting on binned inputs
        make_pipeline(_Doubler(), LogisticRegression()),  # a step of the user's own
    ],
    ids=["histogram boosting", "own transformer"],
)
def test_a_model_with_a_step_it_does_not_mirror_keeps_its_model_file(
    model: object, tmp_path: Path
) -> None:
    x, y, _ = population()
    features = FEATURES if "Hist" in str(model) else FEATURES[:2]
    names = [f.name for f in features]
    model.fit(x[names], y)  # type: ignore[attr-defined]
    model_file = tmp_path / f"{SHA}.skops"

    assert keep_plain(model, features, x[names].head(100), model_file, SHA) is None
    assert not plain_file(model_file).exists()


def test_a_plain_form_serves_only_the_model_file_it_was_read_from(tmp_path: Path) -> None:
    model_file = tmp_path / f"{SHA}.skops"
    _plain("gradient_boosting", tmp_path)

    assert load_plain(model_file, sha256="1" * 64) is None  # another file's sha256
    whole = plain_file(model_file).read_bytes()
    plain_file(model_file).write_bytes(whole[: len(whole) // 2])
    assert load_plain(model_file, sha256=SHA) is None  # cut short: the model file is loaded
    plain_file(model_file).write_bytes(b"damaged")
    assert load_plain(model_file, sha256=SHA) is None


def test_a_plain_form_holds_no_pickled_object(tmp_path: Path) -> None:
    _plain("random_forest", tmp_path)

    with np.load(plain_file(tmp_path / f"{SHA}.skops"), allow_pickle=False) as saved:
        assert all(saved[name].dtype != object for name in saved.files)


def test_a_linear_model_on_numbers_without_preprocessing_is_read_too(tmp_path: Path) -> None:
    x, _, loss = population()
    numbers = x[["income", "debt ratio"]]
    model = LinearRegression().fit(numbers, loss)
    model_file = tmp_path / f"{SHA}.skops"

    plain = keep_plain(model, FEATURES[:2], numbers.head(100), model_file, SHA)

    assert plain is not None
    assert np.array_equal(plain.predict(numbers), model.predict(numbers))
