"""Two dashboard replicas on one team catalog (PostgreSQL, logs and model files in an S3 bucket):
every page opens, both show the same numbers, and a sign-off made on one is seen on the other.
(A folder of logs is what every other team test uses.)"""

from __future__ import annotations

import difflib
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from core import auth
from core.store import TeamStore
from data.build_demo import DEMO_PASSWORD, DEMO_USERS, build_demo
from tests import postgres, s3
from tests.e2e.conftest import serving
from tests.e2e.test_browser import (
    expect_charts_drawn,
    expect_page,
    follow_link,
    settle,
    sign_in,
)
from tests.ui_helpers import PAGE_TITLES

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def team_demo(
    postgres_server: postgres.Server, s3_server: s3.Server, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A small demo (30 days) built into a team catalog with its logs in a bucket; its URL. This
    process and the replicas it starts reach the bucket with the same settings."""
    import s3fs

    with pytest.MonkeyPatch.context() as env:
        for name, value in s3_server.environment.items():
            env.setenv(name, value)
        env.setenv("MODELBRIDGE_CACHE", str(tmp_path_factory.mktemp("model-cache")))
        s3fs.S3FileSystem.clear_instance_cache()
        url = postgres_server.create("demo")
        store = TeamStore(url)
        store.init(logs=f"s3://{s3_server.bucket()}/demo")
        build_demo(store, days=30, per_day=300, quiet=True)
        yield url
    s3fs.S3FileSystem.clear_instance_cache()


@pytest.fixture(scope="module")
def replicas(team_demo: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[str]]:
    """Two dashboard servers on different ports over the same catalog."""
    logs = tmp_path_factory.mktemp("replica-logs")
    with serving(team_demo, logs / "a.log") as a, serving(team_demo, logs / "b.log") as b:
        yield [a, b]


def _open(page: Page, url: str, username: str) -> None:
    page.goto(url)
    sign_in(page, username, DEMO_PASSWORD)
    expect_page(page, "Overview")


def _main_text(page: Page) -> str:
    """The page's text once it stops changing (charts and links arrive after the run ends)."""
    main = page.locator('[data-testid="stMain"]')
    expect(main).to_contain_text("What needs attention?")
    expect_charts_drawn(page, at_least=1)
    before = ""
    for _ in range(30):
        settle(page)
        now = main.inner_text()
        if now == before:
            return now
        before = now
        page.wait_for_timeout(1000)
    raise AssertionError("the page kept changing for 30 s")


@pytest.mark.parametrize(("username", "role"), DEMO_USERS.items())
def test_every_page_of_every_role_opens_on_a_team_catalog(
    page: Page, replicas: list[str], username: str, role: str
) -> None:
    _open(page, replicas[0], username)
    for key in auth.pages_for(role):
        follow_link(page, f"/{key}")
        expect_page(page, PAGE_TITLES[key])


def test_both_replicas_show_the_same_numbers_and_each_others_sign_offs(
    page: Page, replicas: list[str]
) -> None:
    a, b = replicas
    seen = []
    for url in (a, b):
        _open(page, url, "manager")
        seen.append(_main_text(page))
    assert seen[0] == seen[1], "\n".join(difflib.unified_diff(*(t.splitlines() for t in seen)))
    assert "Is it earning what it should?" in seen[0] and " EUR" in seen[0]

    _open(page, b, "owner")
    follow_link(page, "/approvals")
    expect_page(page, "Approvals")
    expect(page.get_by_text("Nothing is waiting for a decision.")).to_have_count(0)

    _open(page, a, "owner")
    follow_link(page, "/approvals")
    expect_page(page, "Approvals")
    # credit-default's card comes first (oldest first); ticket-triage's waits below it.
    page.get_by_text("request changes", exact=True).first.click()
    page.get_by_label("Comment (required)").first.fill("Wait for the outcomes after the change.")
    page.get_by_role("button", name="Record decision").first.click()
    expect(page.get_by_text("credit-default v2 · in review")).to_have_count(0)
    # While the page reruns, the card that moves up can show twice (the old one is stale
    # until the run ends): wait for exactly one.
    expect(page.get_by_text("ticket-triage v2 · in review")).to_have_count(1)

    _open(page, b, "owner")
    follow_link(page, "/approvals")
    expect_page(page, "Approvals")
    expect(page.get_by_text("ticket-triage v2 · in review")).to_have_count(1)
    expect(page.get_by_text("credit-default v2 · in review")).to_have_count(0)
    _open(page, b, "admin")
    follow_link(page, "/audit")
    expect_page(page, PAGE_TITLES["audit"])
    # The trail is a data grid: its cells are in the page, drawn on a canvas.
    expect(page.get_by_text("Wait for the outcomes after the change.").first).to_be_attached()
