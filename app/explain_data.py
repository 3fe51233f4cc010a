"""The cached views of the Explanations page: a case, a what-if, recent cases, importance
and the feature words (app.data holds the store and the other pages' views)."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Any

import pandas as pd
import streamlit as st

from app.data import store_at
from app.views import ImportanceView, VocabularyView
from core import registry

if TYPE_CHECKING:
    from core.explain.cases import CaseExplanation


@st.cache_data(show_spinner="Explaining the decision…", max_entries=256)
def case_view(
    db: str,
    rev: tuple[int, int],
    model: str,
    request_id: str,
    units: str,
    class_: str | None = None,
) -> CaseExplanation:
    """A logged case explained (reasons, counterfactual, similar cases); a multiclass model's
    for CLASS_ (default: the predicted class)."""
    from core.explain.cases import explain_case

    return explain_case(
        store_at(db), model=model, request_id=request_id, units=units, class_=class_
    )


@st.cache_data(show_spinner=False, max_entries=256)
def what_if_view(
    db: str,
    rev: tuple[int, int],
    model: str,
    version: int,
    values: tuple[tuple[str, Any], ...],
    class_: str | None = None,
) -> CaseExplanation:
    """A case given as feature values, explained (a multiclass model's for CLASS_)."""
    from core.explain.cases import explain_values

    return explain_values(
        store_at(db), model=model, values=dict(values), version=version, class_=class_
    )


@st.cache_data(show_spinner=False, max_entries=32)
def cases_table(
    db: str,
    rev: tuple[int, int],
    model: str,
    start: date,
    end: date,
    lo: float,
    hi: float,
    flagged: bool | None,
) -> pd.DataFrame:
    """Recent decisions for browsing."""
    from core.explain.cases import recent_cases

    return recent_cases(
        store_at(db), model=model, start=start, end=end, score_range=(lo, hi), flagged=flagged
    )


@st.cache_data(show_spinner="Measuring what drives the model…", max_entries=16)
def importance_view(db: str, rev: tuple[int, int], model: str, version: int) -> ImportanceView:
    """Global importance (reference vs production) of a version and its ranking over time."""
    from core.explain.global_importance import global_importance, importance_over_time

    store_ = store_at(db)
    return ImportanceView(
        global_importance(store_, model=model, version=version),
        importance_over_time(store_, model=model, version=version),
    )


@st.cache_data(show_spinner=False, max_entries=16)
def vocabulary_view(db: str, rev: tuple[int, int], model: str, version: int) -> VocabularyView:
    """Feature words and reference categories/ranges of a version (for forms)."""
    from core.registry.feature_metadata import vocabulary

    with store_at(db).read() as r:
        entry = registry.get_model(r, name=model)
        target = registry.get_version(r, model=entry, version=version)
        return VocabularyView(
            vocabulary(target, entry.task), registry.features_of(target), target.feature_schema
        )
