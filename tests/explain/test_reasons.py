"""Reason sentences and the words they are built from (feature metadata)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core import audit
from core.auth import Identity
from core.errors import InvalidInput, PermissionDenied
from core.explain import Explanation
from core.explain.cases import explain_case
from core.explain.reasons import population_position, reasons, sentence
from core.monitoring import policy
from core.registry import (
    RegistrationSpec,
    features_of,
    get_model,
    get_version,
    reference_frame,
    register_version,
)
from core.registry.feature_metadata import FeatureInfo, Vocabulary, vocabulary
from core.registry.features import Feature
from core.store import Model, ModelVersion, Store
from tests.explain.test_explainers import WORDS, explained_store  # noqa: F401  (fixture)
from tests.factories import Case

DEBT = Feature("debt_to_income", "numeric", "c0")
SEGMENT = Feature("segment", "categorical", "c1")
MISSED = Feature("missed_payments", "numeric", "c2")
LOAN_WORDS = Vocabulary(
    features={"debt_to_income": FeatureInfo("Debt-to-income", "%", "", True)},
    outcome="default risk",
    population="applicants",
    positive_outcome="defaulted",
)
NO_WORDS = Vocabulary(
    features={}, outcome="the predicted risk", population="past cases", positive_outcome=""
)

# 90 applicants below 48% debt-to-income, 10 above it.
APPLICANTS = pd.DataFrame(
    {
        "debt_to_income": np.r_[np.linspace(5, 47, 90), np.linspace(49, 80, 10)],
        "segment": ["retail"] * 60 + ["sme"] * 30 + ["corporate"] * 10,
        "missed_payments": [0.0] * 70 + [1.0] * 20 + [3.0] * 10,
    }
)


def say(feature: Feature, value: object, contribution: float, words: Vocabulary = LOAN_WORDS):
    """The sentence for one driver, compared with APPLICANTS, in probability points."""
    position = population_position(APPLICANTS, feature, value)
    return sentence(feature, value, contribution, position, words, "probability", "binary")


# --- one sentence --------------------------------------------------------------------------------


def test_a_reason_names_the_feature_its_value_its_place_in_the_population_and_its_effect():
    assert say(DEBT, 48.0, 0.12) == (
        "Debt-to-income of 48% is higher than 90% of applicants; it raised default risk by "
        "12 points."
    )


def test_a_small_value_keeps_its_first_digits_instead_of_reading_as_zero() -> None:
    # A tester read "0 is lower than 74% of patients" for a lab value of 0.003.
    assert say(DEBT, 0.003, -0.02) == (
        "Debt-to-income of 0.003% is lower than 100% of applicants; it lowered default risk by "
        "2 points."
    )


def test_a_low_value_that_lowered_the_risk_is_said_the_other_way_round() -> None:
    assert say(DEBT, 10.0, -0.034) == (
        "Debt-to-income of 10% is lower than 89% of applicants; it lowered default risk by "
        "3 points."
    )


def test_without_metadata_the_column_name_and_neutral_words_are_used() -> None:
    assert say(DEBT, 48.0, 0.12, NO_WORDS) == (
        "Debt to income of 48 is higher than 90% of past cases; it raised the predicted risk "
        "by 12 points."
    )


def test_a_common_value_is_said_to_be_shared_with_the_population() -> None:
    assert say(MISSED, 0.0, -0.02, NO_WORDS) == (
        "Missed payments of 0 is the same as for 70% of past cases; it lowered the predicted "
        "risk by 2 points."
    )


def test_a_category_is_compared_with_how_often_it_occurs() -> None:
    assert say(SEGMENT, "sme", 0.051, NO_WORDS) == (
        "Segment is 'sme', like 30% of past cases; it raised the predicted risk by 5 points."
    )
    assert say(SEGMENT, "public", 0.2, NO_WORDS) == (
        "Segment is 'public', a value none of the past cases had; it raised the predicted risk "
        "by 20 points."
    )


def test_a_missing_value_is_said_to_be_missing() -> None:
    assert say(DEBT, None, 0.07) == (
        "Debt-to-income was not provided; it raised default risk by 7 points."
    )


@pytest.mark.parametrize(
    ("contribution", "amount"),
    [
        (0.01, "1 point"),
        (0.0096, "1 point"),
        (0.006, "0.6 points"),
        (0.0004, "less than 0.1 points"),
    ],
)
def test_small_effects_are_said_in_tenths_of_a_point(contribution: float, amount: str) -> None:
    assert say(DEBT, 48.0, contribution).endswith(f"it raised default risk by {amount}.")


@pytest.mark.parametrize(
    ("contribution", "amount"), [(1234.5, "1,234"), (-12.345, "12.3"), (0.004567, "0.00457")]
)
def test_a_regression_effect_is_said_in_the_units_of_the_prediction(
    contribution: float, amount: str
) -> None:
    text = sentence(DEBT, 48.0, contribution, None, NO_WORDS, "prediction", "regression")
    assert text.endswith(f"the predicted risk by {amount}.")


# --- the drivers of a real decision -----------------------------------------------------------


def _version(store: Store) -> tuple[Model, ModelVersion, pd.DataFrame]:
    with store.read() as r:
        entry = get_model(r, name="credit")
        target = get_version(r, model=entry)
        return entry, target, reference_frame(r, model=entry, version=target)


def test_reasons_list_the_strongest_drivers_up_then_down_with_their_numbers() -> None:
    version = ModelVersion(
        model_id=1, version=1, feature_schema={"features": [f.to_json() for f in [DEBT, SEGMENT]]}
    )
    explanation = Explanation(
        base_value=0.2,
        output=0.27,
        contributions={"debt_to_income": 0.12, "segment": -0.05},
        values={"debt_to_income": 48.0, "segment": "sme"},
        units="probability",
        method="tree",
    )
    model = Model(name="credit", task="binary", positive_label="1")

    found = reasons(APPLICANTS, model, version, explanation, LOAN_WORDS)

    assert [(r.feature, r.contribution) for r in found] == [
        ("debt_to_income", 0.12),
        ("segment", -0.05),
    ]
    assert found[1].sentence == (
        "Segment is 'sme', like 30% of applicants; it lowered default risk by 5 points."
    )


def test_reasons_of_a_logged_case_are_checked_against_its_contributions_and_the_reference(
    explained_store: Store,  # noqa: F811
) -> None:
    entry, target, reference = _version(explained_store)
    case = explain_case(explained_store, model="credit", request_id="req-00011")
    contributions = case.explanation.contributions
    values = case.explanation.values

    ranked = sorted(contributions, key=lambda n: -abs(contributions[n]))
    assert [r.feature for r in case.reasons] == [n for n in ranked if contributions[n] > 0] + [
        n for n in ranked if contributions[n] < 0
    ]
    labels = {n: w["label"] for n, w in WORDS["features"].items()}
    for reason in case.reasons:
        value, effect = values[reason.feature], contributions[reason.feature]
        moved = "raised" if effect > 0 else "lowered"
        said_effect = re.search(
            rf"; it {moved} default risk by ([\d.]+) points?\.$", reason.sentence
        )
        assert reason.sentence.startswith(labels[reason.feature])
        assert said_effect is not None, reason.sentence
        digits = said_effect.group(1)
        precision = 0.05 if "." in digits else 0.5  # tenths below one point
        assert abs(float(digits) - abs(effect) * 100) <= precision + 1e-9
        column = reference[reason.feature]
        if reason.feature == "segment":
            share = (column == value).mean()
            assert f"is '{value}', like {share:.0%} of applicants;" in reason.sentence
        else:
            below, above = (column < value).mean(), (column > value).mean()
            said = re.search(r"is (higher|lower) than (\d+)% of applicants", reason.sentence)
            assert said is not None, reason.sentence
            expected = ("higher", below) if below >= above else ("lower", above)
            assert (said.group(1), said.group(2)) == (expected[0], f"{expected[1] * 100:.0f}")


def test_similar_cases_are_described_with_the_registered_outcome_words(
    explained_store: Store,  # noqa: F811
) -> None:
    case = explain_case(explained_store, model="credit", request_id="req-00011")
    assert re.fullmatch(
        r"Of the 50 most similar applicants in the training data, \d+% defaulted\.",
        case.similar["text"],
    )


# --- registering and editing the words --------------------------------------------------------


def _register(store: Store, files: Case, metadata: Path) -> ModelVersion:
    register_version(
        store,
        spec=RegistrationSpec(
            model="credit",
            reference=files.reference,
            target="defaulted",
            prediction="score",
            feature_metadata=metadata,
        ),
    )
    return _version(store)[1]


def test_feature_metadata_from_json_is_stored_with_the_version(
    store: Store, binary_files: Case, tmp_path: Path
) -> None:
    path = tmp_path / "words.json"
    path.write_text(json.dumps(WORDS))

    version = _register(store, binary_files, path)

    assert version.feature_schema["metadata"] == {
        "outcome": "default risk",
        "population": "applicants",
        "positive_outcome": "defaulted",
        "features": {
            "income": {
                "label": "Annual income", "unit": "EUR", "description": "", "actionable": True
            },
            "debt ratio": {
                "label": "Debt-to-income", "unit": "%", "description": "", "actionable": True
            },
            "segment": {
                "label": "Customer segment",
                "unit": "",
                "description": "Retail, SME or corporate.",
                "actionable": False,
            },
        },
    }  # fmt: skip


def test_feature_metadata_from_csv_is_stored_with_the_version(
    store: Store, binary_files: Case, tmp_path: Path
) -> None:
    path = tmp_path / "words.csv"
    path.write_text(
        "feature,label,unit,description,actionable\n"
        "debt ratio,Debt-to-income,%,Monthly debt / income,yes\n"
        "segment,Customer segment,,,no\n"
    )

    version = _register(store, binary_files, path)
    words = vocabulary(version, "binary")

    assert version.feature_schema["metadata"]["features"] == {
        "debt ratio": {
            "label": "Debt-to-income",
            "unit": "%",
            "description": "Monthly debt / income",
            "actionable": True,
        },
        "segment": {
            "label": "Customer segment",
            "unit": "",
            "description": "",
            "actionable": False,
        },
    }
    assert words.info("income") == FeatureInfo("Income", "", "", False)  # a default
    assert (words.outcome, words.population) == ("the predicted risk", "past cases")


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        (
            "words.json",
            json.dumps({"features": {"income": {}, "salary": {}, "age": {}}}),
            "feature metadata names unknown feature(s): age, salary",
        ),
        ("words.csv", "feature,label\nsalary,Salary\n", "names unknown feature(s): salary"),
        ("words.csv", "name,label\nincome,Income\n", "a feature metadata CSV needs a 'feature'"),
        ("words.json", json.dumps({"features": ["income"]}), "'features' must map feature names"),
        ("words.json", "{not json", "not readable feature metadata"),
    ],
)
def test_feature_metadata_that_does_not_fit_the_version_is_refused_and_nothing_registered(
    store: Store, binary_files: Case, tmp_path: Path, name: str, text: str, message: str
) -> None:
    path = tmp_path / name
    path.write_text(text)

    with pytest.raises(InvalidInput, match=re.escape(message)):
        _register(store, binary_files, path)

    with store.read() as r:
        assert r.rows("SELECT count(*) FROM model_version")[0][0] == 0


def test_an_ml_engineer_edits_the_words_and_the_change_is_audited(
    store: Store, binary_files: Case, tmp_path: Path
) -> None:
    path = tmp_path / "words.json"
    path.write_text(json.dumps(WORDS))
    _register(store, binary_files, path)
    engineer = Identity("erin", "ml_engineer")
    new = {"outcome": "risk of default", "features": {"segment": {"label": "Client type"}}}

    policy.update_feature_metadata(store, model="credit", version=1, meta=new, by=engineer)

    version = _version(store)[1]
    words = vocabulary(version, "binary")
    assert words.outcome == "risk of default"
    assert words.info("segment").label == "Client type"
    assert words.info("income").label == "Income"  # the whole set is replaced
    with store.read() as r:
        event = audit.events(r, model="credit", action="feature_metadata").iloc[0]
    assert (event["actor"], event["role"], event["version"]) == ("erin", "ml_engineer", 1)
    assert json.loads(event["before"])["outcome"] == "default risk"
    assert json.loads(event["after"])["outcome"] == "risk of default"


@pytest.mark.parametrize("role", ["domain_expert", "product_owner", "manager"])
def test_other_roles_cannot_edit_the_words(
    store: Store, binary_files: Case, tmp_path: Path, role: str
) -> None:
    path = tmp_path / "words.json"
    path.write_text(json.dumps(WORDS))
    before = _register(store, binary_files, path).feature_schema["metadata"]

    with pytest.raises(PermissionDenied):
        policy.update_feature_metadata(
            store, model="credit", version=1, meta={"outcome": "x"}, by=Identity("d", role)
        )

    assert _version(store)[1].feature_schema["metadata"] == before
    with store.read() as r:
        assert audit.events(r, action="feature_metadata").empty


def test_edited_words_naming_an_unknown_feature_are_refused(
    store: Store, binary_files: Case, tmp_path: Path
) -> None:
    path = tmp_path / "words.json"
    path.write_text(json.dumps(WORDS))
    _register(store, binary_files, path)

    with pytest.raises(InvalidInput, match="unknown feature\\(s\\): salary"):
        policy.update_feature_metadata(
            store,
            model="credit",
            version=1,
            meta={"features": {"salary": {"label": "Salary"}}},
            by=Identity("erin", "ml_engineer"),
        )


def test_features_of_a_version_keep_their_registered_order(explained_store: Store) -> None:  # noqa: F811
    assert [f.name for f in features_of(_version(explained_store)[1])] == [
        "income",
        "debt ratio",
        "segment",
    ]
