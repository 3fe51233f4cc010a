"""Shared helpers for the UI tests: a small demo store, signed-in AppTests and the page list."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from app.navigation import PAGES, PAGES_DIR
from core import auth, workflow
from core.ingest import ingest_labels, ingest_predictions
from core.monitoring.policy import update_settings
from core.registry import RegistrationSpec, register_version
from core.store import Store
from core.value import business_case
from data.build_demo import DEMO_USERS, build_demo
from tests.factories import Case

ROOT = Path(__file__).resolve().parent.parent
MAIN = ROOT / "app" / "main.py"

# Small, yet long enough for outcomes to arrive (labels come 30-60 days after a decision):
# 21 days would leave the threshold curve and measured performance untested. Builds as fast.
DEMO_DAYS, DEMO_PER_DAY = 42, 80

USER_OF_ROLE = {role: username for username, role in DEMO_USERS.items()}
PAGE_FILES: list[tuple[str, Path]] = [
    (key, PAGES_DIR / file) for key, (file, _, _) in PAGES.items()
]
PAGE_TITLES = {key: title for key, (_, title, _) in PAGES.items()}

# (role, page) pairs that core.auth allows, and those it refuses: the truth the UI must follow.
ALLOWED = [(role, page) for role, pages in auth.PAGES_BY_ROLE.items() for page in pages]
REFUSED = [
    (role, page)
    for role, pages in auth.PAGES_BY_ROLE.items()
    for page in PAGES
    if page not in pages
]


def switch_path(page: str) -> str:
    """A page's file relative to app/main.py, as AppTest.switch_page wants it."""
    return os.path.relpath(dict(PAGE_FILES)[page], MAIN.parent)


@functools.cache
def _small_demo(base: Path) -> Path:
    # Cached here, not only by pytest: the AppTest module and the e2e conftest both import the
    # fixture, and pytest keeps one session cache per place a fixture is defined.
    path = base / "demo" / "demo.duckdb"
    path.parent.mkdir()
    build_demo(Store(path), days=DEMO_DAYS, per_day=DEMO_PER_DAY, quiet=True)
    return path


@pytest.fixture(scope="session", name="demo_db")
def demo_db_fixture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small demo store built once per session (read-only for tests)."""
    return _small_demo(tmp_path_factory.getbasetemp())


FIRST_CASE = {"threshold": 0.2, "value_tp": -150, "value_fp": 60, "value_tn": 300,
              "value_fn": -2500, "volume_per_period": 1000, "period": "W",
              "unit": "EUR"}  # fmt: skip


def first_version_store(folder: Path, case: Case) -> Path:
    """A store where 'credit' v1, never promoted, has a business case (FIRST_CASE), its own
    logged decisions and their outcomes, and is in review (asked for by erin)."""
    owner, engineer = auth.Identity("olga", "product_owner"), auth.Identity("erin", "ml_engineer")
    store = Store(folder / "store.duckdb", lock_wait_seconds=60)
    store.init()
    register_version(store, spec=RegistrationSpec(
        model="credit", reference=case.reference, target="defaulted", prediction="score",
        model_file=case.model_file, created_by="erin",
    ))  # fmt: skip
    update_settings(store, model="credit", changes={"gates.latency_budget_ms": 10_000}, by=owner)
    business_case.save(store, model="credit", changes=FIRST_CASE, by=owner)
    ingest_predictions(store, model="credit", files=[case.logs])
    ingest_labels(store, model="credit", files=[case.labels])
    workflow.request_review(store, model="credit", version=1, by=engineer)
    return store.path


@pytest.fixture(name="app_as")
def app_as_fixture(
    demo_db: Path, monkeypatch: pytest.MonkeyPatch
) -> Callable[[str | None], AppTest]:
    """Factory: the app after its first run, signed in with the demo user of a role (or not)."""
    monkeypatch.setenv("MODELBRIDGE_DB", str(demo_db))  # (no warm-up thread: tests/conftest.py)

    def make(role: str | None) -> AppTest:
        st.cache_data.clear()
        st.cache_resource.clear()
        at = AppTest.from_file(str(MAIN), default_timeout=60)
        if role is not None:
            at.session_state["identity"] = auth.Identity(USER_OF_ROLE[role], role)
        return at.run()

    return make
