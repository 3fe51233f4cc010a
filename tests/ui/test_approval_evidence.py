"""The approvals card keeps its evidence, money first, from review through approval to
production, and a first version is priced with nothing live to compare it with (issue 18: a
first version showed 'Nothing is live yet to compare with' and no money; after 'approve' the card
dropped gates and money, so whoever promoted saw no evidence)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from core import workflow
from core.auth import Identity
from core.registry import get_model, get_version
from core.store import Review, Store
from core.value import figures
from core.words import money
from tests.conftest import copy_store
from tests.factories import Case
from tests.ui_helpers import MAIN, first_version_store, switch_path

OWNER = Identity("olga", "product_owner")


@pytest.fixture(scope="module")
def first(tmp_path_factory: pytest.TempPathFactory, binary_files: Case) -> Path:
    """'credit' v1, never promoted, with a business case, its own logged decisions and their
    outcomes, in review."""
    return first_version_store(tmp_path_factory.mktemp("first"), binary_files)


@pytest.fixture
def fresh(first: Path, tmp_path: Path) -> Path:
    """A private copy of the first-version store."""
    return copy_store(first, tmp_path).path


def approvals(db: Path, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    monkeypatch.setenv("MODELBRIDGE_DB", str(db))
    st.cache_data.clear()
    st.cache_resource.clear()
    at = AppTest.from_file(str(MAIN), default_timeout=60)
    at.session_state["identity"] = OWNER
    at.run()
    return at.switch_page(switch_path("approvals")).run()


def metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def gate_names(at: AppTest) -> list[str]:
    found = [re.match(r"^:\w+\[\w+/?\w*\] \*\*(.+?)\*\*", m.value) for m in at.markdown]
    return [m[1] for m in found if m]


def metric_tables(at: AppTest) -> list[list[str]]:
    return [d.value["Metric"].tolist() for d in at.dataframe if "What it measures" in d.value]


def priced(db: Path) -> figures.FirstVersion:
    with Store(db).read() as r:
        model = get_model(r, name="credit")
        return figures.first_version(r, model=model, version=get_version(r, model=model))


def test_a_first_version_is_priced_on_its_reference_and_its_own_decisions(
    first: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    alone = priced(first)
    reference, latest = alone.reference, alone.latest
    assert reference is not None and latest is not None and latest.figure is not None

    at = approvals(first, monkeypatch)

    assert not at.exception, at.exception
    assert "credit v1 · in review" in [s.value for s in at.subheader]
    assert metrics(at) == {
        "v1 on its reference per week": money(reference.value_per_period, "EUR"),
        f"v1, {latest.label} per week": money(latest.figure.value_per_period, "EUR"),
    }
    [said] = [m.value for m in at.markdown if m.value.startswith("Nothing is live yet")]
    # The basis of each figure, in the words of core.value.figures.
    assert reference.basis.words() in said.replace("\\", "")
    assert latest.figure.basis.words() in said.replace("\\", "")
    [kpi] = [g for g in _review(first).evidence["gates"] if g["name"] == "kpi"]
    assert kpi["numbers"]["reference_figure"]["value_per_period"] == pytest.approx(
        reference.value_per_period
    )


def test_the_card_keeps_money_gates_and_metrics_after_approval_and_after_promotion(
    fresh: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = approvals(fresh, monkeypatch)
    before = (metrics(at), gate_names(at), metric_tables(at))
    assert before[0] and len(before[1]) == 8 and before[2]

    at.radio(key="decision_credit_1").set_value("approve")
    at.text_area(key="comment_credit_1").input("Priced and checked.")
    [record] = [b for b in at.button if b.label == "Record decision"]
    record.click().run()

    assert not at.exception and not at.error, (at.exception, at.error)
    assert "credit v1 · approved" in [s.value for s in at.subheader]
    assert (metrics(at), gate_names(at), metric_tables(at)) == before

    at.checkbox(key="confirm_credit_1").check().run()
    at.button(key="promote_credit_1").click().run()

    assert not at.exception, at.exception
    assert [s.value for s in at.success][0] == "Nothing is waiting for a decision."
    # Live now: its card shows the evidence it was approved on.
    assert "The evidence v1 was approved on:" in [c.value for c in at.caption]
    assert (metrics(at), gate_names(at), metric_tables(at)) == before
    sha = _review(fresh, status="approved").evidence_sha256
    assert any(sha in c.value for c in at.caption)


def _review(db: Path, status: str = "open") -> Review:
    with Store(db).read() as r:
        review = workflow.judged_review(r, model=get_model(r, name="credit"), version=1)
    assert review is not None and review.status == status
    return review
