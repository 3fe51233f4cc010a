"""The demo's multiclass model, ticket-triage, on the pages a user opens first (AppTest on the
small demo store): Overview, Drift with its performance tab, Business value, and Approvals with
its candidate in review beside credit-default's."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core.registry import get_model, get_version
from core.store import Store
from core.value import class_value
from data.build_demo import CLASS_MODEL, MODEL
from tests.ui_helpers import app_as_fixture, demo_db_fixture, switch_path  # noqa: F401

AppAs = Callable[[str | None], AppTest]


def _on_triage(app_as: AppAs, role: str, page: str, prefix: str) -> AppTest:
    """PAGE signed in as ROLE, with ticket-triage picked in its Model box (key PREFIX_model)."""
    at = app_as(role).switch_page(switch_path(page)).run()
    assert not at.exception, at.exception
    picker = at.selectbox(key=f"{prefix}_model")
    assert picker.options == [MODEL, CLASS_MODEL]  # by name: credit-default still opens first
    return picker.set_value(CLASS_MODEL).run()


def _chart_titles(at: AppTest) -> list[str]:
    layouts = [json.loads(chart.proto.spec)["layout"] for chart in at.get("plotly_chart")]
    return [str(layout.get("title", {}).get("text")) for layout in layouts]


def test_the_overview_of_ticket_triage_gives_its_value_by_the_value_matrix(
    app_as: AppAs, demo_db: Path
) -> None:
    with Store(demo_db).read() as r:
        model = get_model(r, name=CLASS_MODEL)
        live = get_version(r, model=model, version=1)
        said = class_value.overall(r, model=model, version=live).sentence()

    at = _on_triage(app_as, "manager", "overview", "overview")

    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    assert any(i.value.replace("\\", "").startswith(said) for i in at.info), said
    assert any("decides the right class" in m.value for m in at.markdown)


def test_the_drift_page_of_ticket_triage_shows_its_inputs_and_its_accuracy(
    app_as: AppAs,
) -> None:
    at = _on_triage(app_as, "ml_engineer", "drift", "drift")

    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    assert "channel" in at.selectbox(key="drift_feature").options
    metrics = at.selectbox(key="drift_metric").options
    assert {"accuracy", "macro F1"} <= set(metrics), metrics
    assert any(t.startswith("Drift per feature") for t in _chart_titles(at))


def test_the_business_value_page_of_ticket_triage_shows_its_value_matrix(app_as: AppAs) -> None:
    at = _on_triage(app_as, "product_owner", "kpi", "kpi")

    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    matrix = next(d.value for d in at.dataframe if "Class that held" in d.value)
    assert list(matrix["Class that held"]) == ["account", "billing", "delivery", "technical"]
    assert list(matrix.columns[1:]) == [
        "Decided account",
        "Decided billing",
        "Decided delivery",
        "Decided technical",
    ]


@pytest.mark.parametrize("page", ["traffic", "data_quality", "explain"])
def test_the_other_pages_open_on_ticket_triage_without_an_error(app_as: AppAs, page: str) -> None:
    prefix = {"data_quality": "dq"}.get(page, page)
    at = _on_triage(app_as, "admin", page, prefix)

    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]


def test_approvals_shows_both_candidates_in_review(app_as: AppAs) -> None:
    at = app_as("product_owner").switch_page(switch_path("approvals")).run()

    assert not at.exception, at.exception
    shown = [s.value for s in at.subheader]
    assert f"{MODEL} v2 · in review" in shown
    assert f"{CLASS_MODEL} v2 · in review" in shown
