"""A fresh server computes each model's first views in the background, so that the first
visitor's pages are served from what the warm-up left (issue 18)."""

from __future__ import annotations

from pathlib import Path

import pytest
import streamlit as st

from app import data, explain_data
from app.warm_up import warm_up
from data.build_demo import MODEL
from tests.ui_helpers import demo_db_fixture  # noqa: F401  (fixture)


def _refuse(*_: object, **__: object) -> None:
    raise AssertionError("computed again, not served from the warm-up")


def test_after_the_warm_up_the_first_pages_views_come_from_the_cache(
    demo_db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MODELBRIDGE_DB", str(demo_db))
    st.cache_data.clear()
    st.cache_resource.clear()
    db, rev = str(demo_db), data.store().revision()

    warm_up(db)
    from core.explain import global_importance
    from core.value import kpi, overview

    monkeypatch.setattr(overview, "earnings", _refuse)
    monkeypatch.setattr(kpi, "summary", _refuse)
    monkeypatch.setattr(global_importance, "global_importance", _refuse)
    opened = data.opening_version(db, rev, MODEL)

    assert data.overview_view(db, rev, MODEL).earnings is not None
    assert data.kpi_view(db, rev, MODEL).version == opened
    assert len(explain_data.importance_view(db, rev, MODEL, opened).overall) > 0
    assert not data.drift_view(db, rev, MODEL, opened, "W", None).drift.empty


def test_without_the_warm_up_the_views_are_computed_on_first_use(
    demo_db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MODELBRIDGE_DB", str(demo_db))
    st.cache_data.clear()
    from core.value import overview

    monkeypatch.setattr(overview, "earnings", _refuse)

    with pytest.raises(AssertionError, match="computed again"):
        data.overview_view(str(demo_db), data.store().revision(), MODEL)
