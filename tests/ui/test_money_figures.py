"""One number per money figure: the Overview, the Business value page, the Approvals page, the
model card and `modelbridge kpi --json` give the same value for the same version, period and
basis, each with the basis in the same words (issue 14: four pages read four values for one
live v1)."""

from __future__ import annotations

import html
from collections.abc import Callable
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core.registry import get_model, get_version
from core.store import Store
from core.value import figures
from core.value.champion import compare
from core.words import money
from core.workflow import model_card
from data.build_demo import MODEL
from tests.conftest import in_process_cli
from tests.ui_helpers import (  # noqa: F401  (fixtures)
    app_as_fixture,
    demo_db_fixture,
    switch_path,
)

AppAs = Callable[[str | None], AppTest]


def _metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


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
