"""One number per money figure: the Overview, the Business value page, the Approvals page, the
model card and `modelbridge kpi --json` give the same value for the same version, period and
basis, each with the basis in the same words (issue 14: four pages read four values for one
live v1); a first version, with nothing live to compare with, is priced the same way on each
(issue 18)."""

from __future__ import annotations

import html
from collections.abc import Callable
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from core import workflow
from core.auth import Identity
from core.registry import get_model, get_version
from core.store import Store
from core.value import figures
from core.value.champion import compare
from core.words import money
from core.workflow import model_card
from data.build_demo import MODEL
from tests.conftest import copy_store, in_process_cli
from tests.factories import Case
from tests.ui_helpers import (  # noqa: F401  (fixtures)
    MAIN,
    app_as_fixture,
    demo_db_fixture,
    first_version_store,
    switch_path,
)

AppAs = Callable[[str | None], AppTest]


def _metrics(at: AppTest) -> dict[str, str]:
    """Each metric's value by its label, the first on the page where several share it (the
    Approvals page shows credit-default's card before ticket-triage's: oldest first)."""
    found: dict[str, str] = {}
    for m in at.metric:
        found.setdefault(m.label, m.value)
    return found


def _texts(at: AppTest) -> list[str]:
    return [e.value for e in [*at.markdown, *at.caption, *at.warning, *at.info]]


def test_every_surface_gives_the_same_money_for_the_same_version_period_and_basis(
    app_as: AppAs,
    demo_db: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    store = Store(demo_db)
    with store.read() as r:
        model = get_model(r, name=MODEL)
        version = get_version(r, model=model)
        top = figures.headline(r, model=model, version=version)
        reference = figures.reference(r, model=model, version=version)
    compared = compare(store, model=MODEL, champion=1, challenger=2)
    assert top.figure is not None and reference.value_per_period is not None
    headline = money(top.figure.value_per_period, "EUR")
    basis = top.figure.basis.words()
    assert basis.endswith("EUR; per month at 50,000 decisions (the business case's volume).")

    overview = app_as("product_owner").switch_page(switch_path("overview")).run()
    value = app_as("product_owner").switch_page(switch_path("kpi")).run()
    approvals = app_as("product_owner").switch_page(switch_path("approvals")).run()
    card = model_card.render(store, model=MODEL, version=1)
    ran = in_process_cli(store, {}, capsys, monkeypatch)("kpi", MODEL, "--json")

    for at in (overview, value, approvals):
        assert not at.exception, at.exception
    # The headline: the same period, value and basis on the Overview, the Business value
    # page, the model card and in the CLI.
    assert _metrics(overview)[top.label] == _metrics(value)[top.label] == headline
    assert any(basis in t for t in _texts(overview))
    assert any(basis in t for t in _texts(value))
    said = f"{top.label}: {top.figure.per_period_words()}. {basis}"
    assert html.escape(said) in card
    assert ran.code == 0, ran.err
    as_json = ran.json()["figures"]  # type: ignore[index]
    assert money(as_json["headline"]["value_per_period"], "EUR") == headline
    assert as_json["headline"]["basis"] == basis
    # On the reference: the Business value page, the model card and the CLI.
    on_reference = f"{reference.per_period_words()}. {reference.basis.words()}"
    assert any(on_reference in t for t in _texts(value))
    assert html.escape(on_reference) in card
    assert as_json["reference"]["value_per_period"] == pytest.approx(reference.value_per_period)
    assert as_json["reference"]["basis"] == reference.basis.words()
    # Champion vs challenger on the same decisions: the Approvals page (the frozen KPI gate)
    # and the Business value page's table.
    live = money(compared.champion.value_per_period, "EUR")
    candidate = money(compared.challenger.value_per_period, "EUR")
    assert _metrics(approvals)["Live v1 per month"] == live
    assert _metrics(approvals)["Candidate v2 per month"] == candidate
    table = value.dataframe[0].value
    assert table["Per month"].tolist() == [live, candidate]
    assert any(compared.champion.basis.words() in t for t in _texts(value))
    assert any(compared.champion.basis.words() in t for t in _texts(approvals))


@pytest.fixture(scope="module")
def first_db(tmp_path_factory: pytest.TempPathFactory, binary_files: Case) -> Path:
    """'credit' v1 in review with nothing live (tests.ui_helpers.first_version_store)."""
    return first_version_store(tmp_path_factory.mktemp("first-money"), binary_files)


def test_a_first_version_is_priced_the_same_on_the_approvals_card_the_model_card_and_the_cli(
    first_db: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    store = copy_store(first_db, tmp_path)
    owner = Identity("olga", "product_owner")
    workflow.sign(store, model="credit", version=1, by=owner, decision="approve", comment="ok")
    with store.read() as r:
        model = get_model(r, name="credit")
        reference = figures.reference(r, model=model, version=get_version(r, model=model))
    assert reference.value_per_period is not None
    basis = reference.basis.words()

    monkeypatch.setenv("MODELBRIDGE_DB", str(store.path))
    st.cache_data.clear()
    st.cache_resource.clear()
    at = AppTest.from_file(str(MAIN), default_timeout=60)
    at.session_state["identity"] = owner
    approvals = at.run().switch_page(switch_path("approvals")).run()
    card = model_card.render(store, model="credit", version=1)
    ran = in_process_cli(store, {}, capsys, monkeypatch)("kpi", "credit", "--json")

    assert not approvals.exception, approvals.exception
    # The approvals card (frozen in the kpi gate when review was asked for), the model card and
    # the CLI: one value per week on the reference, with one basis.
    assert _metrics(approvals)["v1 on its reference per week"] == money(
        reference.value_per_period, "EUR"
    )
    assert any(basis in t.replace("\\", "") for t in _texts(approvals))
    assert html.escape(f"{reference.per_period_words()}. {basis}") in card
    assert ran.code == 0, ran.err
    as_json = ran.json()["figures"]  # type: ignore[index]
    assert as_json["reference"]["value_per_period"] == pytest.approx(reference.value_per_period)
    assert as_json["reference"]["basis"] == basis
