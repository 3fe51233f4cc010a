"""The Approvals page with a multiclass model (issue 19): a candidate in review shows its money
against the live version (by the value matrix, on the same labelled decisions), its gates and
its metrics; the live version shows the evidence it was approved on, priced on its reference."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from core import workflow
from core.auth import Identity
from core.ingest import ingest_labels, ingest_predictions
from core.monitoring.policy import update_settings
from core.registry import RegistrationSpec, get_model, register_version
from core.store import Store
from core.value import business_case
from core.words import money
from tests.conftest import copy_store
from tests.multiclass_cases import rotated_version, simulated_case
from tests.ui_helpers import MAIN, switch_path

OWNER = Identity("olga", "product_owner")
ENGINEER = Identity("erin", "ml_engineer")
MATRIX = {
    "value:low:low": 10, "value:mid:mid": 20, "value:high:high": 50,
    "value:high:low": -200, "value:high:mid": -80, "value:low:high": -15,
}  # fmt: skip


def _register(store: Store, reference: Path, model_file: Path) -> None:
    register_version(store, spec=RegistrationSpec(
        model="levels", reference=reference, target="kind", prediction="predicted",
        task="multiclass", model_file=model_file, created_by="erin",
    ))  # fmt: skip


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """'levels' v1 live with labelled traffic and a value matrix; v2, which decides worse, in
    review."""
    folder = tmp_path_factory.mktemp("class-approvals")
    case = simulated_case(folder / "case", shift=1.0, concept_drift=False, windows=4)
    store = Store(folder / "store.duckdb", lock_wait_seconds=60)
    store.init()
    _register(store, case.reference, case.model_file)
    update_settings(store, model="levels", changes={"gates.latency_budget_ms": 10_000}, by=OWNER)
    business_case.save(
        store, model="levels", changes={**MATRIX, "volume_per_period": 1000}, by=OWNER
    )
    ingest_predictions(store, model="levels", files=[case.logs])
    ingest_labels(store, model="levels", files=[case.labels])
    workflow.request_review(store, model="levels", version=1, by=ENGINEER)
    workflow.sign(store, model="levels", version=1, by=OWNER, decision="approve", comment="ok")
    workflow.promote(store, model="levels", version=1, by=OWNER)
    _register(store, *rotated_version(case, folder / "rotated"))
    workflow.request_review(store, model="levels", version=2, by=ENGINEER)
    return store.path


def _evidence(db: Path, version: int) -> dict[str, Any]:
    with Store(db).read() as r:
        review = workflow.judged_review(r, model=get_model(r, name="levels"), version=version)
    assert review is not None
    return review.evidence


def test_a_multiclass_candidate_shows_its_money_against_live_gates_and_metrics(
    db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MODELBRIDGE_DB", str(db))
    st.cache_data.clear()
    st.cache_resource.clear()
    at = AppTest.from_file(str(MAIN), default_timeout=60)
    at.session_state["identity"] = OWNER
    at.run()
    at.switch_page(switch_path("approvals")).run()

    assert not at.exception, at.exception
    assert "levels v2 · in review" in [s.value for s in at.subheader]
    kpi = next(g for g in _evidence(db, 2)["gates"] if g["name"] == "kpi")
    live = next(g for g in _evidence(db, 1)["gates"] if g["name"] == "kpi")
    shown = {m.label: m.value for m in at.metric}
    assert shown == {
        "Live v1 per month": money(kpi["numbers"]["live"], "EUR"),
        "Candidate v2 per month": money(kpi["numbers"]["candidate"], "EUR"),
        "v1 on its reference per month": money(
            live["numbers"]["reference_figure"]["value_per_period"], "EUR"
        ),
        "v1, all its decisions, measured per month": money(
            live["numbers"]["latest_figure"]["value_per_period"], "EUR"
        ),
    }
    assert kpi["status"] == "fail" and kpi["numbers"]["candidate"] < kpi["numbers"]["live"]
    texts = [m.value.replace("\\", "") for m in at.markdown]
    assert any(t.startswith(":red[fail] **kpi** · blocking — On the same 1,600") for t in texts)
    tables = [d.value for d in at.dataframe if "What it measures" in d.value]
    metrics = tables[0].set_index("Metric")["What it measures"]
    assert list(metrics.index[:3]) == ["Accuracy", "Macro F1", "Weighted F1"]
    assert metrics["Precision of high"] == "the share of its high decisions that were right"
    assert metrics["Recall of low"] == "the share of real low cases it decided low"
    assert "Log loss" in metrics.index


def test_the_overview_and_business_value_give_a_multiclass_models_value_by_its_matrix(
    db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from core.registry import get_version
    from core.value import class_value

    monkeypatch.setenv("MODELBRIDGE_DB", str(db))
    st.cache_data.clear()
    st.cache_resource.clear()
    with Store(db).read() as r:
        model = get_model(r, name="levels")
        found = class_value.overall(r, model=model, version=get_version(r, model=model, version=1))
    assert found.realized is not None and found.n_labeled > 0
    at = AppTest.from_file(str(MAIN), default_timeout=60)
    at.session_state["identity"] = OWNER
    at.run()  # the Overview

    assert not at.exception, at.exception
    said = found.sentence()
    assert said.startswith("Estimated from the class probabilities, a decision is worth ")
    assert any(i.value.replace("\\", "").startswith(said) for i in at.info)
    assert not any(m.value.endswith(" EUR") and m.value.startswith("0") for m in at.metric)

    at.switch_page(switch_path("kpi")).run()

    assert not at.exception, at.exception
    assert [i.value.replace("\\", "") for i in at.info] == [said]
    matrix = next(d.value for d in at.dataframe if "Class that held" in d.value)
    assert list(matrix.columns) == ["Class that held", "Decided high", "Decided low", "Decided mid"]
    held_high = matrix.set_index("Class that held").loc["high"]
    assert held_high["Decided low"] == money(-200, "EUR")


def test_business_value_edits_a_multiclass_models_matrix_and_shows_its_value_per_period(
    db: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from core.monitoring.windows import WindowSpec
    from core.registry import get_version
    from core.value import class_value

    store = copy_store(db, tmp_path)
    business_case.save(store, model="levels", changes={"period": "W"}, by=OWNER)
    monkeypatch.setenv("MODELBRIDGE_DB", str(store.path))
    st.cache_data.clear()
    st.cache_resource.clear()
    with store.read() as r:
        model = get_model(r, name="levels")
        version = get_version(r, model=model, version=1)
        windows = class_value.by_window(r, model=model, version=version, spec=WindowSpec("W"))
    at = AppTest.from_file(str(MAIN), default_timeout=60)
    at.session_state["identity"] = OWNER
    at.run()
    at.switch_page(switch_path("kpi")).run()

    assert not at.exception, at.exception
    shown = next(d.value for d in at.dataframe if "Value of its decisions" in d.value)
    assert len(shown) == len(windows) > 1
    assert shown["Value of its decisions"].tolist() == [
        money(v, "EUR") for v in windows["value_in_window"]
    ]
    assert shown["From"].tolist() == ["measured" if m else "estimated" for m in windows["measured"]]
    assert len(at.get("plotly_chart")) == 1  # measured vs estimated per decision

    at.button(key="FormSubmitter:business_case-Save business case").click().run()

    assert not at.exception, at.exception
    assert [s.value for s in at.success] == ["Saved as a new revision."]
    with store.read() as r:
        model = get_model(r, name="levels")
        case = business_case.current(model)
    assert case.revision == 3 and case["period"] == "W"
    assert {k: case.values[k] for k in MATRIX} == {k: float(v) for k, v in MATRIX.items()}


@pytest.mark.parametrize(
    "page", ["overview", "kpi", "traffic", "drift", "explain", "data_quality", "models", "audit"]
)
def test_every_page_opens_on_a_multiclass_model_without_an_error(
    db: Path, monkeypatch: pytest.MonkeyPatch, page: str
) -> None:
    monkeypatch.setenv("MODELBRIDGE_DB", str(db))
    st.cache_data.clear()
    st.cache_resource.clear()
    at = AppTest.from_file(str(MAIN), default_timeout=90)
    at.session_state["identity"] = Identity("ada", "admin")
    at.run()
    at.switch_page(switch_path(page)).run()

    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
