"""What a fresh server does once, in the background, so that each page opens fast the first
time: import what the pages import and compute each model's first views.

A sign-in writes to the store (the audit trail), so the views cached here are recomputed after
it; what the warm-up buys is everything a first computation pays once per process: importing
pandas, plotly, scikit-learn and shap, fitting each live version's explainer, compiling shap's
numba code, DuckDB's and the file system's caches. A failure only means a page does the work
itself, so it is logged, never shown.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

import streamlit as st

from app import data, explain_data

_log = logging.getLogger(__name__)


@st.cache_resource(show_spinner=False)
def start_warm_up(db: str) -> threading.Thread:
    """Start warming up for the store at DB, once per server process."""
    thread = threading.Thread(target=warm_up, args=(db,), name="warm-up", daemon=True)
    thread.start()
    return thread


def warm_up(db: str) -> None:
    """Import the pages' libraries, then compute every model's first views."""
    _quietly("imports", _import_page_libraries)
    rev = data.store().revision() if data.store().exists() else (0, 0)
    _quietly("models", data.models_table, db, rev)
    _quietly("approvals", data.approvals_view, db, rev)
    _quietly("live versions", data.live_versions, db, rev)
    for model in [m.name for m in _quietly("models", data.models_table, db, rev) or []]:
        _warm_model(db, rev, model)


def _warm_model(db: str, rev: tuple[int, int], model: str) -> None:
    # In the order of the pages a person opens first: Overview, Business value, Explanations,
    # Drift, Traffic, Data quality.
    _quietly("overview", data.overview_view, db, rev, model)
    _quietly("kpi", data.kpi_view, db, rev, model)
    opened = _quietly("opening version", data.opening_version, db, rev, model)
    if opened is not None:
        _quietly("importance", explain_data.importance_view, db, rev, model, opened)
        _quietly("drift", data.drift_view, db, rev, model, opened, "W", None)
    _quietly("alerts", data.alerts_view, db, rev, model, True)
    span = _quietly("traffic span", data.traffic_span, db, rev, model)
    if span is not None and span.first is not None:
        _quietly("traffic", data.traffic_view, db, rev, model, None, span.first, span.last)
    _quietly("data quality", data.quality_headline, db, rev, model)


def _import_page_libraries() -> None:
    import plotly.graph_objects  # noqa: F401

    from app import charts, widgets  # noqa: F401


def _quietly(what: str, view: Callable[..., Any], *args: Any) -> Any:
    try:
        return view(*args)
    except Exception:  # a page computes it itself and shows its own error
        _log.info("warm-up of %s skipped", what, exc_info=True)
        return None
