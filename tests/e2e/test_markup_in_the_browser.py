"""What only a browser shows of markup in user and data text: whether it fetches the images and
draws the bold, links and colours (headless Chromium, on tests.hostile_corpus's markup store)."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, Request, expect

from core import auth
from tests.e2e.conftest import serving
from tests.e2e.test_browser import expect_page, settle
from tests.hostile_corpus import (
    MARKUP_HOST,
    MARKUP_PASSWORD,
    MARKUP_REQUEST_ID,
    MARKUP_USER_OF_ROLE,
    markup_store,
)
from tests.ui_helpers import PAGE_TITLES

pytestmark = pytest.mark.e2e
# Pages that show no text of the store but the model's name in the picker's input box (the audit
# trail's events are in a table, which shows text as it is).
NO_TEXT_SHOWN = {"traffic", "audit"}


@pytest.fixture(scope="module")
def markup_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The URL of a dashboard serving its own markup store."""
    folder = tmp_path_factory.mktemp("markup-e2e")
    with serving(markup_store(folder / "store"), folder / "streamlit.log") as url:
        yield url


def open_everything(page: Page) -> None:
    """Open every tab and expander of the page, so that all its text is drawn."""
    for tab in page.get_by_role("tab").all():
        if tab.is_visible():
            tab.click()
            settle(page)
    for summary in page.locator('[data-testid="stExpander"] details:not([open]) > summary').all():
        if summary.is_visible():
            summary.click()
            settle(page)


def expect_markup_shown_as_text(page: Page, *, shown: bool) -> None:
    """No image, link, bold or LaTeX drawn from the markup; its Markdown SHOWN as typed."""
    expect(page.locator(f'img[src*="{MARKUP_HOST}"]')).to_have_count(0)
    expect(page.locator(f'a[href*="{MARKUP_HOST}"]')).to_have_count(0)
    expect(page.locator("strong", has_text=re.compile(r"^(bold|file)$"))).to_have_count(0)
    expect(page.locator(".katex")).to_have_count(0)
    if shown:
        expect(page.get_by_text("**bold**").filter(visible=True).first).to_be_visible()


@pytest.mark.parametrize("role", list(auth.PAGES_BY_ROLE))
def test_no_page_fetches_or_draws_the_markup_in_user_and_data_text(
    browser: Browser, markup_url: str, role: str
) -> None:
    context = browser.new_context(base_url=markup_url, viewport={"width": 1440, "height": 960})
    # The first visit to Explanations measures every input's influence: on two busy cores that
    # run outlasts Playwright's 30 s.
    context.set_default_timeout(120_000)
    fetched: list[str] = []
    context.on("request", lambda request: _note(request, fetched))
    page = context.new_page()
    page.goto("/")
    page.get_by_role("textbox", name="Username").fill(MARKUP_USER_OF_ROLE[role])
    page.get_by_role("textbox", name="Password").fill(MARKUP_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect_page(page, "Overview")
    # The user's own name, with Markdown's underscores, is in the sidebar as typed.
    expect(page.get_by_test_id("stSidebar")).to_contain_text(MARKUP_USER_OF_ROLE[role])

    for key in auth.pages_for(role):
        if len(auth.pages_for(role)) > 1:
            page.locator('[data-testid="stSidebarNav"] a', has_text=PAGE_TITLES[key]).click()
        expect_page(page, PAGE_TITLES[key])
        if key == "explain":
            box = page.get_by_role("textbox", name="Request id")
            box.fill(MARKUP_REQUEST_ID)
            box.press("Enter")
            expect(page.get_by_role("heading", name="What if?")).to_be_visible()
            settle(page)
        open_everything(page)
        expect(page.locator('[data-testid="stException"]')).to_have_count(0)
        expect_markup_shown_as_text(page, shown=key not in NO_TEXT_SHOWN)
        assert fetched == [], (key, fetched)
    context.close()


def _note(request: Request, fetched: list[str]) -> None:
    if MARKUP_HOST in request.url:
        fetched.append(request.url)
