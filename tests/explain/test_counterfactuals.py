"""Counterfactual hints: the smallest change to actionable features that flips the decision."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import make_column_transformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder

from core.explain import Explainer, build_explainer
from core.explain.cases import explain_case
from core.explain.counterfactuals import find
from core.registry import get_model, get_version
from core.registry.artifacts import load_model
from core.registry.features import Feature
from core.store import Store
from tests.explain.test_explainers import (  # noqa: F401  (fixture)
    FEATURES,
    explained_store,
    fitted,
    pipeline,
    population,
)


@pytest.fixture(scope="module")
def explainer() -> Explainer:
    """The logistic credit model (income, debt ratio, segment) in probability units."""
    model, _ = fitted("logistic")
    return build_explainer(model, FEATURES, population()[0], "1")


def score(rows: pd.DataFrame) -> np.ndarray:
    """The logistic model's probability of default, straight from scikit-learn."""
    model, _ = fitted("logistic")
    return model.predict_proba(rows[["income", "debt ratio", "segment"]])[:, 1]


def changed(row: pd.DataFrame, hint: object) -> pd.DataFrame:
    """ROW with the hint's changes applied."""
    out = row.copy()
    for change in hint.changes:
        out[change.feature] = change.after
    return out


def cases() -> pd.DataFrame:
    """40 applicants the model did not train on (well, all of them: it is a small world)."""
    return population()[0].iloc[500:540].reset_index(drop=True)


def test_the_hint_flips_the_decision_when_the_model_scores_the_changed_case(
    explainer: Explainer,
) -> None:
    threshold = 0.5
    before = score(cases())
    flagged = before >= threshold
    assert 5 <= flagged.sum() <= 35  # both kinds of decision are tried

    hints = [
        find(explainer, cases().iloc[[i]], population()[0], threshold, ["income", "debt ratio"])
        for i in range(len(cases()))
    ]

    assert sum(h is not None for h in hints) >= 35
    for i, hint in enumerate(hints):
        if hint is None:
            continue
        after = score(changed(cases().iloc[[i]], hint))[0]
        assert (after >= threshold) != flagged[i]
        assert hint.score == pytest.approx(after, abs=1e-12)
        assert hint.threshold == threshold
        assert [c.before for c in hint.changes] == [
            cases().iloc[i][c.feature] for c in hint.changes
        ]


def test_the_hint_changes_only_actionable_features(explainer: Explainer) -> None:
    hints = [
        find(explainer, cases().iloc[[i]], population()[0], 0.5, ["debt ratio"])
        for i in range(len(cases()))
    ]

    for hint in hints:  # debt ratio alone can flip each of these decisions
        assert hint is not None
        assert [c.feature for c in hint.changes] == ["debt ratio"]


def test_the_hint_suggests_values_seen_in_the_population(explainer: Explainer) -> None:
    reference = population()[0]
    hints = [
        find(explainer, cases().iloc[[i]], reference, 0.5, ["income", "debt ratio"])
        for i in range(10)
    ]
    for hint in hints:
        assert hint is not None
        for change in hint.changes:
            assert change.after in set(reference[change.feature])


def test_one_feature_is_enough_when_one_can_flip_it_else_two_are_moved(
    explainer: Explainer,
) -> None:
    reference = population()[0]
    risky = cases().iloc[[int(np.argmax(score(cases())))]].reset_index(drop=True)
    singles = []
    for name in ("income", "debt ratio"):
        trial = pd.concat([risky] * reference[name].nunique(), ignore_index=True)
        trial[name] = reference[name].unique()
        singles.append(score(trial).min())
    both = risky.copy()
    both["income"] = np.quantile(reference["income"], 0.99, method="inverted_cdf")
    both["debt ratio"] = np.quantile(reference["debt ratio"], 0.01, method="inverted_cdf")
    pair = score(both)[0]
    assert pair < min(singles)  # no single move gets as low as the pair
    easy, hard = max(singles) + 0.01, (min(singles) + pair) / 2

    one = find(explainer, risky, reference, easy, ["income", "debt ratio"])
    two = find(explainer, risky, reference, hard, ["income", "debt ratio"])

    assert one is not None and len(one.changes) == 1
    assert two is not None and sorted(c.feature for c in two.changes) == ["debt ratio", "income"]
    assert score(changed(risky, two))[0] < hard <= score(risky)[0]


def test_no_hint_when_no_actionable_feature_can_flip_the_decision(explainer: Explainer) -> None:
    row = cases().iloc[[0]]
    every_segment = pd.concat([row] * 3, ignore_index=True)
    every_segment["segment"] = ["retail", "sme", "corporate"]
    threshold = score(every_segment).max() + 0.01  # not flagged, whatever the segment

    assert find(explainer, row, population()[0], threshold, ["segment"]) is None
    assert find(explainer, row, population()[0], threshold, []) is None
    assert find(explainer, row, population()[0], threshold, ["no such feature"]) is None


def test_a_whole_number_feature_is_only_given_whole_numbers() -> None:
    rng = np.random.default_rng(3)
    n = 500
    frame = pd.DataFrame(
        {
            "open accounts": rng.integers(0, 13, n).astype(float),
            "debt ratio": rng.uniform(0, 60, n).round(1),
            "segment": rng.choice(["retail", "sme"], n),
        }
    )
    y = (frame["open accounts"] + rng.normal(0, 2, n) > 6).astype(int)
    model = make_pipeline(
        make_column_transformer(
            ("passthrough", ["open accounts", "debt ratio"]), (OneHotEncoder(), ["segment"])
        ),
        LogisticRegression(max_iter=1000),
    ).fit(frame, y)
    features = [Feature("open accounts", "numeric", "c0"), *FEATURES[1:]]

    explainer = build_explainer(model, features, frame, "1")
    hints = [find(explainer, frame.iloc[[i]], frame, 0.5, ["open accounts"]) for i in range(30)]

    moved = [c.after for h in hints if h is not None for c in h.changes]
    assert len(moved) >= 20
    assert all(float(v).is_integer() for v in moved)


def test_a_logged_case_gets_its_hint_in_words_with_the_verified_score(
    explained_store: Store,  # noqa: F811
) -> None:
    with explained_store.read() as r:
        version = get_version(r, model=get_model(r, name="credit"))
    model = load_model(Path(version.artifact_path), expected_sha256=version.artifact_sha256)
    found = [
        explain_case(explained_store, model="credit", request_id=f"req-{i:05d}") for i in range(8)
    ]
    case = next(c for c in found if c.counterfactual is not None)
    (change,) = case.counterfactual.changes  # one move is enough for this model

    row = pd.DataFrame([case.explanation.values])
    row[change.feature] = change.after
    rescored = model.predict_proba(row)[0, 1]

    words = {"income": ("Annual income", " EUR"), "debt ratio": ("Debt-to-income", "%")}
    label, unit = words[change.feature]
    outcome = "not flagged" if case.flagged else "flagged"
    assert (rescored >= case.threshold) != case.flagged
    assert case.counterfactual.score == pytest.approx(rescored, abs=1e-12)
    assert case.counterfactual_text == (
        f"If {label} were {_number(change.after)}{unit} instead of "
        f"{_number(change.before)}{unit}, the case would be {outcome} "
        f"(score {rescored * 100:.0f} / 100, threshold 50)."
    )


def _number(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.2f}".rstrip("0").rstrip(".")
