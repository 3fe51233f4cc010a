"""AppTest of the business pages: overview, business value (KPI), approvals and audit trail.

The small demo (shared, read-only) shows what a fresh installation looks like; a store of our
own, copied per test, has outcomes, a challenger in review and room to sign and promote."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import duckdb
import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from core import auth, workflow
from core.auth import Identity
from core.ingest import ingest_labels, ingest_predictions
from core.monitoring.policy import update_settings
from core.registry import RegistrationSpec, get_model, get_version, register_version
from core.store import Review, Store
from core.value import business_case, kpi
from core.words import money
from data.build_demo import BUSINESS_CASE
from tests.conftest import copy_store
from tests.factories import Case
from tests.ui_helpers import (  # noqa: F401  (fixtures)
    MAIN,
    PAGE_TITLES,
    USER_OF_ROLE,
    app_as_fixture,
    demo_db_fixture,
    switch_path,
)

ENGINEER = Identity("erin", "ml_engineer")
OWNER = Identity("olga", "product_owner")
CASE = {"threshold": 0.2, "value_tp": -150, "value_fp": 60, "value_tn": 300, "value_fn": -2500,
        "volume_per_period": 1000, "period": "W", "unit": "EUR"}  # fmt: skip
PAGES = ("overview", "kpi", "approvals", "audit")
AppAs = Callable[[str | None], AppTest]


def texts(elements: object) -> list[str]:
    return [e.value for e in elements]


def chart_titles(at: AppTest) -> list[str]:
    return [json.loads(c.proto.spec)["layout"]["title"]["text"] for c in at.get("plotly_chart")]


def metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def click(at: AppTest, label: str) -> AppTest:
    """Click the button (or form submit button) labelled LABEL and rerun."""
    [found] = [b for b in at.button if b.label == label]
    return found.click().run()


# --- the demo, as every role that may open these pages sees it -----------------------------


@pytest.mark.parametrize(
    ("role", "page"),
    [(role, page) for role, pages in auth.PAGES_BY_ROLE.items() for page in pages if page in PAGES],
)
def test_every_role_opens_the_business_pages_it_may_without_errors(
    app_as: AppAs, role: str, page: str
) -> None:
    at = app_as(role).switch_page(switch_path(page)).run()
    assert not at.exception, at.exception
    assert texts(at.title) == [PAGE_TITLES[page]]
    assert not at.error, texts(at.error)


def test_the_overview_of_the_demo_answers_the_managers_three_questions(app_as: AppAs):
    at = app_as("manager")  # the overview is the landing page

    assert texts(at.subheader) == [
        "Is it earning what it should?",
        "Is it healthy?",
        "What needs attention?",
    ]
    assert texts(at.caption)[0] == "Live version: v1 (production)"
    # The small demo's last month (June) has no outcomes yet: its value is an estimate.
    assert list(metrics(at)) == ["Jun 2026, estimated", "Target", "Without the model"]
    assert metrics(at)["Target"] == money(BUSINESS_CASE["target"], "EUR")
    assert chart_titles(at) == [
        "Value per period (light bars: estimated, not enough outcomes in yet)"
    ]
    lights = [m for m in texts(at.markdown) if m.startswith((":green", ":orange", ":red"))]
    assert [m.split("**")[1] for m in lights] == ["Inputs", "Data quality", "Speed", "Accuracy"]
    assert "- Version 2 is waiting for sign-off." in texts(at.markdown)


@pytest.mark.parametrize("role", ["ml_engineer", "manager"])
def test_roles_without_sign_off_cannot_open_the_approvals_page(app_as: AppAs, role: str):
    at = app_as(role)
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        at.switch_page(switch_path("approvals"))
    # Run on its own, the page stops at its guard.
    page = AppTest.from_file(str(MAIN.parent.parent / "pages" / "approvals.py"), default_timeout=60)
    page.session_state["identity"] = Identity(USER_OF_ROLE[role], role)
    page.run()
    assert texts(page.error) == [
        f"Not allowed: the {auth.ROLE_LABELS[role]} role cannot open this page."
    ]
    assert not page.button and not page.text_area


def test_the_audit_page_of_the_demo_shows_an_intact_chain_and_filters(app_as: AppAs):
    at = app_as("product_owner").switch_page(switch_path("audit")).run()
    assert texts(at.success) == ["The hash chain is intact: no event was edited or removed."]
    everything = at.dataframe[0].value
    assert {"promote", "business case", "request review"} <= set(everything["Action"])

    at.text_input(key="audit_actor").input("owner").run()

    mine = at.dataframe[0].value
    assert set(mine["Who"]) == {"owner"} and len(mine) < len(everything)
    assert at.get("download_button")[0].proto.label == "Export CSV"


# --- our own store: outcomes, a challenger in review, and room to act -----------------------


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory, binary_files: Case) -> Path:
    """'credit' v1 live with labelled traffic and a business case; v2 (same model file) in
    review, asked for by erin."""
    store = Store(tmp_path_factory.mktemp("pages") / "store.duckdb", lock_wait_seconds=60)
    store.init()
    for version in (1, 2):
        register_version(store, spec=RegistrationSpec(
            model="credit", reference=binary_files.reference, target="defaulted",
            prediction="score", model_file=binary_files.model_file, created_by="erin",
        ))  # fmt: skip
        if version == 1:
            update_settings(
                store, model="credit", changes={"gates.latency_budget_ms": 10_000}, by=OWNER
            )
            workflow.request_review(store, model="credit", version=1, by=ENGINEER)
            workflow.sign(
                store, model="credit", version=1, by=OWNER, decision="approve", comment="ok"
            )
            workflow.promote(store, model="credit", version=1, by=OWNER)
            ingest_predictions(store, model="credit", files=[binary_files.logs])
            ingest_labels(store, model="credit", files=[binary_files.labels])
            business_case.save(store, model="credit", changes=CASE, by=OWNER)
    workflow.request_review(store, model="credit", version=2, by=ENGINEER)
    return store.path


@pytest.fixture
def fresh(template: Path, tmp_path: Path) -> Path:
    """A private copy of the template store."""
    return copy_store(template, tmp_path).path


@pytest.fixture
def open_as(monkeypatch: pytest.MonkeyPatch) -> Callable[[Path, Identity, str], AppTest]:
    """Factory: the app on store DB, signed in as IDENTITY, showing PAGE."""

    def make(db: Path, identity: Identity, page: str) -> AppTest:
        monkeypatch.setenv("MODELBRIDGE_DB", str(db))
        st.cache_data.clear()
        st.cache_resource.clear()
        at = AppTest.from_file(str(MAIN), default_timeout=60)
        at.session_state["identity"] = identity
        at.run()
        return at.switch_page(switch_path(page)).run() if page != "overview" else at

    return make


OpenAs = Callable[[Path, Identity, str], AppTest]


def test_a_product_owner_approves_and_promotes_and_the_overview_shows_it_live(
    fresh: Path, open_as: OpenAs
) -> None:
    at = open_as(fresh, OWNER, "approvals")
    assert not at.exception, at.exception
    assert "credit v2 · in review" in texts(at.subheader)
    assert {"Live v1 per week", "Candidate v2 per week"} <= set(metrics(at))
    assert metrics(at)["Live v1 per week"].endswith(" EUR")
    review = _review(fresh, 2)
    assert any(review.evidence_sha256 in c for c in texts(at.caption))

    at.radio(key="decision_credit_2").set_value("approve")
    at.text_area(key="comment_credit_2").input("Same model, retrained; fine.")
    click(at, "Record decision")

    assert not at.exception, at.exception
    assert not at.error, texts(at.error)
    assert "credit v2 · approved" in texts(at.subheader)
    assert at.button(key="promote_credit_2").disabled
    at.checkbox(key="confirm_credit_2").check().run()
    at.button(key="promote_credit_2").click().run()

    assert not at.exception, at.exception
    assert texts(at.success)[0] == "Nothing is waiting for a decision."
    assert _stages(fresh) == {1: "archived", 2: "production"}
    assert workflow.production(Store(fresh), model="credit")["approved_by"] == "olga"
    overview = open_as(fresh, OWNER, "overview")
    # v2 has served nothing yet: the overview keeps showing the traffic of v1 and says why
    # (a tester's manager saw "No decisions have been logged yet" next to v1's open alerts).
    assert texts(overview.caption)[0] == (
        "v2 is live but has logged no decisions yet; showing v1 (archived), which logged the "
        "latest ones."
    )
    assert "No decisions have been logged yet." not in texts(overview.info)


def test_every_page_opens_on_the_version_that_logged_traffic_after_a_promotion(
    fresh: Path, open_as: OpenAs
) -> None:
    store = Store(fresh)
    workflow.sign(store, model="credit", version=2, by=OWNER, decision="approve", comment="ok")
    workflow.promote(store, model="credit", version=2, by=OWNER)
    said = (
        "v2 is live but has logged no decisions yet; showing v1 (archived), which logged the "
        "latest ones."
    )

    overview = open_as(fresh, ENGINEER, "overview")
    value = open_as(fresh, ENGINEER, "kpi")
    drift = open_as(fresh, ENGINEER, "drift")
    explain = open_as(fresh, ENGINEER, "explain")

    for at in (overview, value, drift, explain):
        assert not at.exception, at.exception
    assert texts(overview.caption)[0] == texts(value.caption)[0] == said
    assert drift.selectbox(key="drift_version").value == "v1 (archived)"
    assert "Words used in explanations (v1)" in [e.label for e in explain.expander]
    # The money comparison takes the shown version as champion, and the live one challenges it.
    assert value.selectbox(key="kpi_challenger").options == ["v2"]
    assert value.dataframe[0].value["Version"].tolist() == ["v1", "v2"]  # the comparison first


def test_a_sign_off_without_a_comment_is_refused_on_the_page(fresh: Path, open_as: OpenAs):
    at = open_as(fresh, OWNER, "approvals")
    at.radio(key="decision_credit_2").set_value("approve")
    click(at, "Record decision")

    assert texts(at.error) == ["a sign-off needs a comment saying why"]
    assert _stages(fresh)[2] == "in_review"


def test_the_registrant_cannot_sign_on_the_page_either(fresh: Path, open_as: OpenAs):
    at = open_as(fresh, Identity("erin", "product_owner"), "approvals")
    at.radio(key="decision_credit_2").set_value("approve")
    at.text_area(key="comment_credit_2").input("looks good to me")
    click(at, "Record decision")

    [error] = texts(at.error)
    assert "erin registered this version or asked for its review" in error
    assert _stages(fresh)[2] == "in_review"


def test_an_admin_sees_the_queue_but_signs_only_where_configured(fresh: Path, open_as: OpenAs):
    at = open_as(fresh, Identity("ada", "admin"), "approvals")
    at.radio(key="decision_credit_2").set_value("approve")
    at.text_area(key="comment_credit_2").input("ok")
    click(at, "Record decision")

    assert texts(at.error) == ["ada (Administrator) may not approve; that needs Product owner"]


def test_no_decision_is_pre_selected_and_none_is_recorded_without_one(
    fresh: Path, open_as: OpenAs
) -> None:
    at = open_as(fresh, OWNER, "approvals")
    assert at.radio(key="decision_credit_2").value is None
    at.text_area(key="comment_credit_2").input("fine")

    click(at, "Record decision")

    assert texts(at.error) == ["Choose a decision: approve, request changes or reject."]
    assert _stages(fresh)[2] == "in_review"


def test_a_live_version_that_replaced_nothing_offers_no_rollback(
    fresh: Path, open_as: OpenAs
) -> None:
    at = open_as(fresh, OWNER, "approvals")

    assert not [b for b in at.button if b.key == "rollback_credit"]
    assert (
        "No rollback: v1 replaced nothing when it was promoted; there is no version to roll "
        "back to." in [c.value.replace("\\", "") for c in at.caption]
    )


def test_rolling_back_on_the_page_needs_a_confirmation(fresh: Path, open_as: OpenAs) -> None:
    workflow.sign(Store(fresh), model="credit", version=2, by=OWNER, decision="approve",
                  comment="ok")  # fmt: skip
    workflow.promote(Store(fresh), model="credit", version=2, by=OWNER)
    at = open_as(fresh, OWNER, "approvals")
    assert at.button(key="rollback_credit").disabled
    assert at.checkbox(key="confirm_rollback_credit").label == "I confirm rolling back to v1"

    at.checkbox(key="confirm_rollback_credit").check().run()
    at.button(key="rollback_credit").click().run()

    assert not at.exception, at.exception
    assert _stages(fresh) == {1: "production", 2: "archived"}


def test_the_kpi_page_values_the_threshold_on_the_slider(fresh: Path, open_as: OpenAs) -> None:
    store = Store(fresh)
    with store.read() as r:
        model = get_model(r, name="credit")
        version = get_version(r, model=model)
        summary = kpi.summary(r, model=model, version=version)
        pos, neg = kpi.curve_counts(r, model=model, version=version)
        curve = kpi.threshold_curve(pos, neg, business_case.current(model))
    at = open_as(fresh, OWNER, "kpi")
    assert not at.exception, at.exception
    assert at.slider(key="kpi_threshold").value == CASE["threshold"] * 100
    assert metrics(at)["Best threshold"] == f"{summary.optimal_threshold * 100:g}"

    at.slider(key="kpi_threshold").set_value(35.0).run()

    assert not at.exception, at.exception
    at_035 = curve.iloc[350]["value_per_decision"]
    at_020 = curve.iloc[200]["value_per_decision"]
    shown = {m.label: m for m in at.metric}
    assert shown["Value per decision at this threshold"].value == money(at_035, "EUR")
    assert shown["Value per decision at this threshold"].delta == money(at_035 - at_020, "EUR")
    assert shown["Per week"].value == money(at_035 * 1000, "EUR")
    assert chart_titles(at)[0] == "Value per decision by threshold"
    compared = at.dataframe[0].value  # the comparison comes first
    assert compared["Role"].tolist() == ["champion", "challenger"]
    assert compared["Version"].tolist() == ["v1", "v2"]
    # The challenger is the same model file: it earns exactly what the champion earns.
    assert compared["Per week"].nunique() == 1 and compared["Per week"][0].endswith(" EUR")


def test_saving_the_business_case_form_makes_a_new_revision(fresh: Path, open_as: OpenAs):
    at = open_as(fresh, OWNER, "kpi")
    at.text_area[0].input("Send risky applications to manual review")
    click(at, "Save business case")

    assert not at.exception, at.exception
    assert "Saved as a new revision." in texts(at.success)
    with Store(fresh).read() as r:
        case = business_case.current(get_model(r, name="credit"))
    assert case.revision == 2
    assert case["decision"] == "Send risky applications to manual review"
    assert case["value_fn"] == CASE["value_fn"]


def test_the_registrant_of_a_version_in_review_cannot_change_what_its_kpi_gate_reads(
    fresh: Path, open_as: OpenAs
):
    at = open_as(fresh, ENGINEER, "kpi")
    [worth] = [n for n in at.number_input if n.label == "not flagged, but it was a real case"]
    worth.set_value(0.0)
    click(at, "Save business case")

    assert not at.exception, at.exception
    assert texts(at.error) == [
        "erin registered credit v2 or asked for its review, which is open: they cannot change "
        "the settings its gates read (business_case.value_fn) until it is decided"
    ]
    with Store(fresh).read() as r:
        case = business_case.current(get_model(r, name="credit"))
        assert get_version(r, model=get_model(r, name="credit"), version=2).stage == "in_review"
    assert (case.revision, case["value_fn"]) == (1, CASE["value_fn"])


def test_a_manager_sees_the_business_case_but_cannot_save_it(fresh: Path, open_as: OpenAs):
    at = open_as(fresh, Identity("max", "manager"), "kpi")
    assert not at.exception, at.exception
    [save] = [b for b in at.button if b.label == "Save business case"]
    assert save.disabled
    assert "Product owners and ML engineers can change the business case." in texts(at.caption)


def test_the_audit_page_reports_a_tampered_trail(fresh: Path, open_as: OpenAs) -> None:
    with duckdb.connect(str(fresh)) as con:
        con.execute("UPDATE audit_event SET actor = 'mallory' WHERE id = 2")
    at = open_as(fresh, OWNER, "audit")
    assert texts(at.error) == [
        "The audit trail was tampered with: event 2: content changed after it was written"
    ]


def test_the_overview_of_a_model_never_promoted_says_no_version_is_live(
    tmp_path: Path, regression_files: Case, open_as: OpenAs
) -> None:
    store = Store(tmp_path / "store.duckdb", lock_wait_seconds=60)
    store.init()
    register_version(store, spec=RegistrationSpec(
        model="loss", reference=regression_files.reference, target="loss", prediction="predicted",
        created_by="erin",
    ))  # fmt: skip
    ingest_predictions(store, model="loss", files=[regression_files.logs])

    at = open_as(store.path, Identity("max", "manager"), "overview")

    assert not at.exception, at.exception
    assert texts(at.caption)[0] == (
        "No version is live yet: none has been promoted to production. "
        "Showing the newest, v1 (registered)."
    )
    # The logs carry no latency_ms: speed is unknown, not fine.
    [speed] = [m for m in texts(at.markdown) if "**Speed**" in m]
    assert speed == (
        ":gray[● unknown] **Speed** — No latency measured on 9 Mar 2026: log latency_ms "
        "with the predictions to watch speed."
    )
    assert "- Version 1 is registered and not yet in review." in texts(at.markdown)


@pytest.mark.parametrize(
    ("page", "said"),
    [
        ("overview", "An ML engineer registers one with `modelbridge register`."),
        ("kpi", ""),
        ("traffic", "Register one with `modelbridge register`."),
        ("drift", "Register one with `modelbridge register`."),
        ("data_quality", "Register one with `modelbridge register`."),
    ],
)
def test_a_page_of_an_empty_store_says_no_model_is_registered_and_stops(
    tmp_path: Path, open_as: OpenAs, page: str, said: str
) -> None:
    Store(tmp_path / "store.duckdb").init()

    at = open_as(tmp_path / "store.duckdb", Identity("ada", "admin"), page)

    assert not at.exception, at.exception
    assert texts(at.info) == [f"No models are registered yet. {said}".strip()]
    assert not at.selectbox


def test_the_explanations_page_of_a_store_without_model_files_says_how_to_register_one(
    tmp_path: Path, regression_files: Case, open_as: OpenAs
) -> None:
    store = Store(tmp_path / "store.duckdb")
    store.init()
    register_version(
        store,
        spec=RegistrationSpec(
            model="loss",
            reference=regression_files.reference,
            target="loss",
            prediction="predicted",
        ),
    )

    at = open_as(store.path, Identity("ada", "admin"), "explain")

    assert not at.exception, at.exception
    assert texts(at.info) == [
        "No model has a registered model file, so decisions cannot be explained yet. "
        "Register one with `modelbridge register ... --model-file model.skops`."
    ]


def _review(db: Path, version: int) -> Review:
    with Store(db).read() as r:
        return workflow.open_review(r, model=get_model(r, name="credit"), version=version)


def _stages(db: Path) -> dict[int, str]:
    with Store(db).read() as r:
        model = get_model(r, name="credit")
        return {v: get_version(r, model=model, version=v).stage for v in (1, 2)}
