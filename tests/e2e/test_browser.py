"""What only a browser shows: the real sign-in form, the sidebar, drawn charts, deep links."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from core import auth
from data.build_demo import DEMO_PASSWORD, DEMO_USERS
from tests.ui_helpers import PAGE_TITLES, REFUSED, USER_OF_ROLE

pytestmark = pytest.mark.e2e

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
# Pages that must draw at least one plotly chart (on any page, every visible chart must draw).
CHARTED = {"overview", "kpi", "traffic", "drift", "data_quality"}

_SETTLED = """() => {
    const app = document.querySelector('[data-testid="stApp"]');
    return app && app.getAttribute('data-test-script-state') !== 'running'
        && !document.querySelector('[data-testid="stStatusWidget"]');
}"""


def settle(page: Page) -> None:
    """Wait until the current script run has finished."""
    page.wait_for_function(_SETTLED)


def sign_in(page: Page, username: str, password: str) -> None:
    """Submit the sign-in form (open the app first when no page is loaded yet)."""
    if page.url == "about:blank":
        page.goto("/")
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    page.get_by_role("textbox", name="Username").fill(username)
    page.get_by_role("textbox", name="Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def follow_link(page: Page, path: str) -> None:
    """Go to PATH inside the running session, as the browser's back and forward buttons do.

    page.goto() would load a new session, which starts signed out.
    """
    page.evaluate(
        "path => { history.pushState({}, '', path);"
        " window.dispatchEvent(new PopStateEvent('popstate', {state: {}})); }",
        path,
    )


def expect_page(page: Page, title: str) -> None:
    """The page's heading is shown, the run finished and nothing raised."""
    expect(page.get_by_role("heading", name=title, exact=True)).to_be_visible()
    settle(page)
    expect(page.locator('[data-testid="stException"]')).to_have_count(0)


def expect_charts_drawn(page: Page, at_least: int) -> None:
    """Every visible plotly chart has drawn its SVG (charts in closed tabs are not drawn)."""
    if at_least:
        expect(page.locator('[data-testid="stPlotlyChart"]').first).to_be_visible()
    charts = page.locator('[data-testid="stPlotlyChart"]:visible')
    assert charts.count() >= at_least
    for chart in charts.all():
        expect(chart.locator(".main-svg").first).to_be_visible()


def sidebar_links(page: Page) -> list[str]:
    """Titles of the pages in the sidebar navigation, in order (none when there is one page)."""
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    links = page.locator('[data-testid="stSidebarNav"] a')
    # Each link reads "<material icon name>\n\n<title>".
    return [text.strip().splitlines()[-1] for text in links.all_inner_texts()]


@pytest.mark.parametrize(("username", "role"), DEMO_USERS.items())
def test_demo_user_opens_every_page_of_the_role(page: Page, username: str, role: str):
    sign_in(page, username, DEMO_PASSWORD)
    expect_page(page, "Overview")
    allowed = [PAGE_TITLES[key] for key in PAGE_TITLES if key in auth.pages_for(role)]
    # Streamlit shows no page list when the navigation holds a single page.
    assert sidebar_links(page) == (allowed if len(allowed) > 1 else [])
    expect(page.get_by_test_id("stSidebar")).to_contain_text(auth.ROLE_LABELS[role])
    for key in auth.pages_for(role):
        if len(allowed) > 1:
            page.locator('[data-testid="stSidebarNav"] a', has_text=PAGE_TITLES[key]).click()
        expect_page(page, PAGE_TITLES[key])
        expect_charts_drawn(page, at_least=1 if key in CHARTED else 0)
        expect(page.locator('[data-testid="stException"]')).to_have_count(0)


def test_wrong_password_shows_an_error(page: Page):
    sign_in(page, "engineer", "wrong-password")
    expect(page.get_by_text("Unknown user or wrong password.")).to_be_visible()
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    expect(page.get_by_role("button", name="Sign out")).to_have_count(0)
    expect(page.get_by_test_id("stMetric")).to_have_count(0)


def test_deep_link_while_signed_out_shows_only_the_sign_in_form(page: Page):
    page.goto("/models")
    expect(page.get_by_role("dialog")).to_contain_text("Page not found")
    page.keyboard.press("Escape")
    expect(page.get_by_role("heading", name="ModelBridge", exact=True)).to_be_visible()
    expect(page.get_by_role("heading", name="Models", exact=True)).to_have_count(0)
    sign_in(page, "expert", DEMO_PASSWORD)
    expect_page(page, "Overview")
    expect(page.get_by_text("inputs and lineage")).to_have_count(0)


@pytest.mark.parametrize("role", sorted({role for role, _ in REFUSED}))
def test_links_to_pages_the_role_lacks_show_no_content(page: Page, role: str):
    sign_in(page, USER_OF_ROLE[role], DEMO_PASSWORD)
    expect_page(page, "Overview")
    for refused_role, key in REFUSED:
        if refused_role != role:
            continue
        follow_link(page, f"/{key}")
        expect(page).not_to_have_url(re.compile(f"/{key}$"))
        expect_page(page, "Overview")
        expect(page.get_by_role("heading", name=PAGE_TITLES[key], exact=True)).to_have_count(0)


def test_link_to_a_page_the_role_has_opens_it(page: Page):
    sign_in(page, "engineer", DEMO_PASSWORD)
    expect_page(page, "Overview")
    follow_link(page, "/models")
    expect_page(page, "Models")
    expect(page.get_by_text("v1 inputs and lineage").first).to_be_visible()


def test_overview_screenshot(page: Page):
    sign_in(page, "manager", DEMO_PASSWORD)
    expect_page(page, "Overview")
    expect_charts_drawn(page, at_least=1)
    # The page scrolls inside stMain, so a full-page screenshot needs a window as tall as it.
    height = page.get_by_test_id("stMain").evaluate("main => main.scrollHeight")
    page.set_viewport_size({"width": 1440, "height": height})
    settle(page)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / "overview.png", full_page=True)


def test_the_rank_chart_draws_eight_inputs_and_the_picker_adds_one(page: Page):
    # Issue 18: with every input drawn, the weekly rank chart was a tangle.
    sign_in(page, "expert", DEMO_PASSWORD)
    expect_page(page, "Overview")
    follow_link(page, "/explain")
    expect_page(page, "Explanations")
    page.get_by_role("tab", name="How the model decides").click()
    chart = page.locator('[data-testid="stPlotlyChart"]').filter(has_text="What drives the model")
    expect(chart.locator(".legend .traces")).to_have_count(8)
    picker = page.get_by_test_id("stMultiSelect")
    expect(picker.get_by_role("button", name=re.compile("^Remove"))).to_have_count(8)

    settle(page)
    field = picker.locator("input")
    field.click()
    field.press_sequentially("Loan purpose")  # not among the 8
    expect(page.get_by_role("option", name="Loan purpose")).to_be_visible()
    field.press("Enter")
    page.keyboard.press("Escape")
    settle(page)

    expect(chart.locator(".legend .traces")).to_have_count(9)
