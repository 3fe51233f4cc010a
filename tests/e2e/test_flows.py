"""Whole journeys in a real browser: a what-if, a threshold trade-off, a sign-off to go live.

These change the store, so they get a server of their own over a fresh copy of the demo.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
from playwright.sync_api import Page, expect

from core import workflow
from core.monitoring import policy
from core.store import Store
from data.build_demo import CLASS_MODEL, DEMO_PASSWORD, ENGINEER, MODEL, OWNER
from tests.e2e.conftest import serving
from tests.e2e.test_browser import expect_page, follow_link, settle, sign_in

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def flow_store(demo_db: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A private copy of the demo store that these journeys may change.

    The small demo has outcomes only from before the concept change, where the challenger
    earns less than the champion, so its money gate fails; here the product owner has made
    that gate advisory and the engineer asked for review again. ticket-triage's candidate is
    rejected, so the credit card is the only one waiting.
    """
    folder = tmp_path_factory.mktemp("flows")
    shutil.copytree(demo_db.parent, folder / "store")
    path = folder / "store" / demo_db.name
    store = Store(path)
    workflow.sign(
        store,
        model=MODEL,
        version=2,
        by=OWNER,
        decision="request_changes",
        comment="Outcomes after the change are not in yet; judge it on the rest.",
    )
    policy.update_settings(
        store, model=MODEL, by=OWNER, changes={"gates.blocking": "metrics,compatibility,latency"}
    )
    workflow.request_review(store, model=MODEL, version=2, by=ENGINEER)
    workflow.sign(
        store,
        model=CLASS_MODEL,
        version=2,
        by=OWNER,
        decision="reject",
        comment="Not in this journey.",
    )
    return path


@pytest.fixture(scope="module")
def flow_url(flow_store: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A dashboard server over the private store."""
    with serving(flow_store, tmp_path_factory.mktemp("flows-log") / "streamlit.log") as url:
        yield url


def _open(page: Page, url: str, username: str) -> None:
    page.goto(url)
    sign_in(page, username, DEMO_PASSWORD)
    expect_page(page, "Overview")


def test_expert_changes_an_input_in_the_what_if_panel_and_sees_the_new_score(
    page: Page, flow_url: str, flow_store: Path
):
    with duckdb.connect(str(flow_store), read_only=True) as con:
        request_id = con.execute("SELECT request_id FROM pred_m1 ORDER BY ts LIMIT 1").fetchone()[0]
    _open(page, flow_url, "expert")
    follow_link(page, "/explain")
    expect_page(page, "Explanations")
    box = page.get_by_role("textbox", name="Request id")
    box.fill(request_id)
    box.press("Enter")
    expect(page.get_by_role("heading", name="Decision:").first).to_be_visible()
    settle(page)
    field = page.get_by_role("spinbutton", name="Debt-to-income (%)")
    field.fill("95")
    field.press("Enter")
    expect(page.get_by_text("With your changes")).to_be_visible()
    settle(page)
    expect(page.locator('[data-testid="stException"]')).to_have_count(0)


def test_owner_moves_the_threshold_slider_and_the_value_follows(page: Page, flow_url: str):
    _open(page, flow_url, "owner")
    follow_link(page, "/kpi")
    expect_page(page, "Business value")
    metric = page.get_by_test_id("stMetric").filter(has_text="Value per decision at this threshold")
    before = metric.inner_text()
    page.get_by_role("slider", name="Threshold").focus()
    for _ in range(12):
        page.keyboard.press("ArrowRight")
    settle(page)
    expect(metric).not_to_have_text(before)
    expect(page.locator('[data-testid="stPlotlyChart"] .main-svg').first).to_be_visible()


def test_owner_approves_and_promotes_the_challenger_and_the_overview_shows_it_live(
    page: Page, flow_url: str
):
    _open(page, flow_url, "owner")
    expect(page.get_by_text("Live version: v1 (production)")).to_be_visible()
    follow_link(page, "/approvals")
    expect_page(page, "Approvals")
    page.get_by_text("approve", exact=True).click()
    page.get_by_label("Comment (required)").fill("Earns more on the same decisions; gates pass.")
    page.get_by_role("button", name="Record decision").click()
    expect(page.get_by_text("credit-default v2 · approved")).to_be_visible()
    page.get_by_text("replaces v1 in production").click()
    page.get_by_role("button", name="Promote to production").click()
    expect(page.get_by_text("Nothing is waiting for a decision.")).to_be_visible()
    follow_link(page, "/overview")
    expect_page(page, "Overview")
    # v2 has served nothing yet, so the overview keeps v1's traffic in view and says so.
    expect(
        page.get_by_text(
            "v2 is live but has logged no decisions yet; showing v1 (archived), which logged "
            "the latest ones."
        )
    ).to_be_visible()
