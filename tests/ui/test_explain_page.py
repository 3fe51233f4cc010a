"""The explanation page (AppTest): a decision by request id, what-if, the model overall, words."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from app.widgets import what_if_key
from core.explain.cases import CaseExplanation, explain_case, explain_values
from core.registry import features_of, get_model, get_version
from core.registry.feature_metadata import vocabulary
from core.store import Store, log_tables
from data.build_demo import MODEL
from tests.ui_helpers import (  # noqa: F401  (fixtures)
    app_as_fixture,
    demo_db_fixture,
    switch_path,
)

AppAs = Callable[[str | None], AppTest]


@pytest.fixture(scope="module")
def request_id(demo_db: Path) -> str:
    """A logged decision of the live version that the model sent to manual review."""
    with Store(demo_db).read() as r:
        model = get_model(r, name=MODEL)
        threshold = model.settings["business_case"]["threshold"]
        return r.rows(
            f"SELECT request_id FROM {log_tables.pred_table(model.id)} "
            "WHERE version = 1 AND score >= ? ORDER BY ts DESC, request_id LIMIT 1",
            [threshold],
        )[0][0]


@pytest.fixture(scope="module")
def other_request_id(demo_db: Path, request_id: str) -> str:
    """Another logged decision of the live version, one the model did not flag."""
    with Store(demo_db).read() as r:
        model = get_model(r, name=MODEL)
        threshold = model.settings["business_case"]["threshold"]
        return r.rows(
            f"SELECT request_id FROM {log_tables.pred_table(model.id)} "
            "WHERE version = 1 AND score < ? AND request_id <> ? ORDER BY ts, request_id LIMIT 1",
            [threshold, request_id],
        )[0][0]


def explain_page(app_as: AppAs, role: str, request_id: str | None = None) -> AppTest:
    """The explanation page as ROLE, with REQUEST_ID typed into the search box."""
    at = app_as(role).switch_page(switch_path("explain")).run()
    if request_id is not None:
        at.text_input(key="explain_request_id").input(request_id).run()
    assert not at.exception, at.exception
    return at


def plain(text: str) -> str:
    """Markdown shown by the page, with its escapes removed."""
    return text.replace("\\", "")


def markdown(at: AppTest) -> list[str]:
    """Every markdown text on the page, unescaped."""
    return [plain(m.value) for m in at.markdown]


def scores(at: AppTest) -> list[str]:
    """The 'Score NN / 100; ...' captions, in order."""
    return [plain(c.value) for c in at.caption if c.value.startswith("Score ")]


def what_if_shown(at: AppTest) -> dict[str, object]:
    """The what-if panel's inputs as the page shows them, by label."""
    inputs = [*at.number_input, *at.selectbox]
    return {w.label: w.value for w in inputs if (w.key or "").startswith("whatif_")}


def logged_inputs(demo_db: Path, case: CaseExplanation) -> dict[str, object]:
    """CASE's logged values under the labels the what-if panel gives them."""
    with Store(demo_db).read() as r:
        model = get_model(r, name=MODEL)
        target = get_version(r, model=model, version=case.version)
        words, features = vocabulary(target, model.task), features_of(target)
    labels = {f.name: words.info(f.name) for f in features}
    return {
        info.label + (f" ({info.unit})" if info.unit else ""): case.explanation.values[name]
        for name, info in labels.items()
    }


@pytest.mark.parametrize("role", ["domain_expert", "ml_engineer"])
def test_a_case_found_by_request_id_shows_the_decision_and_its_reasons(
    app_as: AppAs, demo_db: Path, request_id: str, role: str
) -> None:
    at = explain_page(app_as, role, request_id)

    case = explain_case(Store(demo_db), model=MODEL, request_id=request_id)
    shown = markdown(at)
    assert case.flagged is True
    assert "### Decision: sent to manual review" in shown
    assert scores(at) == [
        f"Score {case.explanation.output * 100:.0f} / 100; cases from 12 up are sent to "
        "manual review."
    ]
    assert case.reasons
    for reason in case.reasons:
        assert f"- {reason.sentence}" in shown
    assert case.similar["text"] in [c.value for c in at.caption]
    if case.counterfactual_text:
        assert [i.value for i in at.info] == [
            f"What would change the decision: {case.counterfactual_text}"
        ]


def test_the_page_does_not_say_shap_or_log_odds_outside_the_technical_view(
    app_as: AppAs, request_id: str
) -> None:
    at = explain_page(app_as, "domain_expert", request_id)

    technical = next(e for e in at.expander if e.label == "Technical view")
    inside = {m.value for m in technical.markdown}
    outside = [m.value for m in at.markdown if m.value not in inside]
    assert outside
    assert not [t for t in outside if "SHAP" in t or "log-odds" in t.lower()]
    assert plain(technical.markdown[0].value) == (
        "Model file loaded with **skops, allow-listed types only**; explainer: `tree`."
    )


def test_the_what_if_panel_rescores_the_case_with_the_changed_value(
    app_as: AppAs, demo_db: Path, request_id: str
) -> None:
    at = explain_page(app_as, "domain_expert", request_id)
    case = explain_case(Store(demo_db), model=MODEL, request_id=request_id)
    debt = case.explanation.values["debt_to_income"]
    key = what_if_key(MODEL, 1, request_id, "debt_to_income")
    assert at.number_input(key=key).value == pytest.approx(debt)
    assert len(at.number_input) == 7  # one per numeric feature, keyed by case and feature

    at.number_input(key=key).set_value(5.0).run()

    changed = explain_values(
        Store(demo_db),
        model=MODEL,
        values={**case.explanation.values, "debt_to_income": 5.0},
        version=1,
    )
    assert not at.exception
    assert "**With your changes**" in markdown(at)
    assert changed.explanation.output < case.explanation.output
    assert scores(at)[1].startswith(f"Score {changed.explanation.output * 100:.0f} / 100")
    for reason in changed.reasons:
        assert f"- {reason.sentence}" in markdown(at)


def test_the_next_case_starts_the_what_if_panel_from_its_own_values(
    app_as: AppAs, demo_db: Path, request_id: str, other_request_id: str
) -> None:
    first = explain_case(Store(demo_db), model=MODEL, request_id=request_id)
    second = explain_case(Store(demo_db), model=MODEL, request_id=other_request_id)
    at = explain_page(app_as, "domain_expert", request_id)
    changed = what_if_key(MODEL, 1, request_id, "debt_to_income")
    at.number_input(key=changed).set_value(5.0).run()
    assert "**With your changes**" in markdown(at)
    assert second.explanation.values["debt_to_income"] != pytest.approx(5.0)

    at.text_input(key="explain_request_id").input(other_request_id).run()

    assert not at.exception, at.exception
    assert what_if_shown(at) == logged_inputs(demo_db, second)
    assert what_if_shown(at) != logged_inputs(demo_db, first)
    assert "**With your changes**" not in markdown(at)
    assert scores(at) == [
        f"Score {second.explanation.output * 100:.0f} / 100; cases from 12 up are sent to "
        "manual review."
    ]

    at.text_input(key="explain_request_id").input(request_id).run()

    assert what_if_shown(at) == logged_inputs(demo_db, first)
    assert "**With your changes**" not in markdown(at)


def test_a_what_if_value_outside_what_training_saw_is_called_a_guess(
    app_as: AppAs, demo_db: Path, request_id: str
) -> None:
    # A tester typed 22.38 %vol of alcohol into a wine model without a word from the page.
    with Store(demo_db).read() as r:
        model = get_model(r, name=MODEL)
        [debt] = [
            f
            for f in features_of(get_version(r, model=model, version=1))
            if f.name == "debt_to_income"
        ]
    at = explain_page(app_as, "domain_expert", request_id)
    changed = what_if_key(MODEL, 1, request_id, "debt_to_income")
    warning = (
        f":orange[Outside the {debt.min:,.4g} to {debt.max:,.4g} seen in training: the model's "
        "answer here is a guess.]"
    )

    at.number_input(key=changed).set_value(debt.max * 3).run()
    assert warning in [c.value for c in at.caption]
    at.number_input(key=changed).set_value((debt.min + debt.max) / 2).run()
    assert warning not in [c.value for c in at.caption]


def test_an_unknown_request_id_shows_an_error_and_nothing_else(app_as: AppAs) -> None:
    at = explain_page(app_as, "domain_expert", "no-such-request")

    assert [e.value for e in at.error] == [
        f"no logged prediction with request id 'no-such-request' for {MODEL}"
    ]
    assert not [m for m in markdown(at) if m.startswith("### Decision")]


def test_how_the_model_decides_shows_importance_and_its_ranking_over_time(
    app_as: AppAs,
) -> None:
    at = explain_page(app_as, "domain_expert")

    titles = [json.loads(c.proto.spec)["layout"]["title"]["text"] for c in at.get("plotly_chart")]
    assert [t.label for t in at.tabs] == ["A decision", "How the model decides"]
    assert titles == [
        "How much each input moves the score (average, in points)",
        "What drives the model, week by week (1 = strongest)",
    ]


@pytest.mark.parametrize(("role", "editable"), [("domain_expert", False), ("ml_engineer", True)])
def test_only_an_ml_engineer_gets_the_editor_for_the_words(
    app_as: AppAs, role: str, editable: bool
) -> None:
    at = explain_page(app_as, role)

    labels = [e.label for e in at.expander]
    assert ("Words used in explanations (v1)" in labels) is editable


def test_words_saved_by_an_ml_engineer_are_used_in_the_reasons(
    app_as: AppAs,
    demo_db: Path,
    request_id: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    copy = tmp_path / "demo.duckdb"  # the shared demo store stays as it is
    shutil.copy(demo_db, copy)
    monkeypatch.setenv("MODELBRIDGE_DB", str(copy))
    at = explain_page(app_as, "ml_engineer")

    next(t for t in at.text_input if t.label == "What the score means").input("chance of default")
    next(b for b in at.button if b.label == "Save words").click().run()

    assert [s.value for s in at.success] == ["Saved."]
    with Store(copy).read() as r:
        version = get_version(r, model=get_model(r, name=MODEL), version=1)
    assert version.feature_schema["metadata"]["outcome"] == "chance of default"
    case = explain_case(Store(copy), model=MODEL, request_id=request_id)
    assert all("chance of default by" in r.sentence for r in case.reasons)
