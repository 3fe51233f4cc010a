"""The only st.cache_* wrappers around core. Cache keys are small values plus the store revision."""

from __future__ import annotations

from datetime import date
from typing import Any

import pandas as pd
import streamlit as st

from core import registry
from core.errors import ModelBridgeError
from core.monitoring import traffic
from core.settings import Settings
from core.store import Store


@st.cache_resource(show_spinner=False)
def _store_at(path: str) -> Store:
    found = Store(path, lock_wait_seconds=Settings.from_env(path).lock_wait_seconds)
    # A store written by an older release is upgraded once, when the app first opens it.
    return found.open() if found.exists() else found


def store() -> Store:
    """The store named by MODELBRIDGE_DB (or the default path)."""
    return _store_at(str(Settings.from_env().db_path))


def revision() -> tuple[int, int]:
    """Changes whenever another process commits a write."""
    return store().revision()


@st.cache_data(show_spinner=False, max_entries=64)
def models_table(db: str, rev: tuple[int, int]) -> list[dict[str, Any]]:
    """Every model with its versions, as plain dicts."""
    s = _store_at(db)
    out = []
    with s.read() as r:
        for model in registry.list_models(r):
            versions = [v.model_dump() for v in registry.list_versions(r, model)]
            out.append({**model.model_dump(), "versions": versions})
    return out


@st.cache_data(show_spinner=False, max_entries=64)
def opening_version(db: str, rev: tuple[int, int], model: str) -> int:
    """The version every page opens on (core.registry.opening_version)."""
    with _store_at(db).read() as r:
        return registry.opening_version(r, registry.get_model(r, model)).version.version


@st.cache_data(show_spinner=False, max_entries=64)
def traffic_span(db: str, rev: tuple[int, int], model: str) -> tuple[date | None, date | None, int]:
    """First and last day with traffic and the total predictions."""
    with _store_at(db).read() as r:
        return traffic.span(r, registry.get_model(r, model))


@st.cache_data(show_spinner=False, max_entries=64)
def traffic_view(
    db: str, rev: tuple[int, int], model: str, version: int | None, start: date, end: date
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """Daily traffic, score distribution per day and headline totals for the overview."""
    with _store_at(db).read() as r:
        entry = registry.get_model(r, model)
        flt = traffic.TrafficFilter(entry.id, version, start, end)
        lo, hi = traffic.score_range(r, entry)
        return (
            traffic.daily_traffic(r, flt),
            traffic.score_distribution(r, flt, lo, hi),
            traffic.totals(r, flt),
        )


@st.cache_data(show_spinner=False, max_entries=32)
def quality_view(db: str, rev: tuple[int, int], model: str, period: str) -> dict[str, Any]:
    """Everything the data-quality page draws, aggregated in DuckDB."""
    from core.monitoring import data_quality

    with _store_at(db).read() as r:
        entry = registry.get_model(r, model)
        features = registry.features_of(registry.get_version(r, entry))
        return {
            "headline": data_quality.headline(r, entry, period),
            "volume": data_quality.volume(r, entry, period),
            "reasons": data_quality.reasons(r, entry, period),
            "features": data_quality.feature_rates(r, entry, features, period),
            "latency": data_quality.latency(r, entry, period),
            "batches": data_quality.batches(r, entry),
            "slo_ms": data_quality.latency_slo(entry),
        }


@st.cache_data(show_spinner=False, max_entries=32)
def quarantine_samples(db: str, rev: tuple[int, int], model: str, batch_id: str) -> pd.DataFrame:
    """Quarantined rows of one batch for the drill-down."""
    from core.monitoring import data_quality

    with _store_at(db).read() as r:
        return data_quality.samples(r, registry.get_model(r, model), batch_id)


@st.cache_data(show_spinner=False, max_entries=32)
def quality_headline(db: str, rev: tuple[int, int], model: str) -> Any:
    """The data-quality headline of the latest day, for the overview."""
    from core.monitoring import data_quality

    with _store_at(db).read() as r:
        return data_quality.headline(r, registry.get_model(r, model), "D")


@st.cache_data(show_spinner="Comparing production with the training data…", max_entries=16)
def drift_view(
    db: str,
    rev: tuple[int, int],
    model: str,
    version: int | None,
    period: str | None,
    chunk_size: int | None,
) -> dict[str, Any]:
    """Drift, multivariate drift, performance and the status sentence for one window choice."""
    from core.monitoring import drift, drift_report, multivariate, performance
    from core.monitoring.windows import WindowSpec

    spec = WindowSpec.parse(period, chunk_size)
    with _store_at(db).read() as r:
        entry = registry.get_model(r, model)
        target = registry.get_version(r, entry, version)
        table = drift.drift_by_window(r, entry, target, spec)
        perf = performance.performance_by_window(r, entry, target, spec)
        return {
            "version": target.version,
            "drift": table,
            "scores": drift_report.drift_scores(table) if len(table) else table,
            "ranking": drift_report.ranking(table) if len(table) else table,
            "multivariate": multivariate.reconstruction_drift(r, entry, target, spec),
            "performance": perf,
            "status": drift_report.status(entry, target, table, perf),
            "reference_metrics": target.metrics,
        }


@st.cache_data(show_spinner=False, max_entries=64)
def distribution_view(
    db: str,
    rev: tuple[int, int],
    model: str,
    version: int,
    period: str | None,
    chunk_size: int | None,
    feature: str,
    window_start: Any,
) -> pd.DataFrame:
    """Reference vs one window's distribution of a feature."""
    from core.monitoring import drift_report
    from core.monitoring.windows import WindowSpec

    with _store_at(db).read() as r:
        entry = registry.get_model(r, model)
        target = registry.get_version(r, entry, version)
        return drift_report.distributions(
            r, entry, target, WindowSpec.parse(period, chunk_size), feature, window_start
        )


@st.cache_data(show_spinner=False, max_entries=32)
def alerts_view(db: str, rev: tuple[int, int], model: str, open_only: bool) -> list[dict[str, Any]]:
    """Stored alerts of a model."""
    from core.monitoring import alerts

    with _store_at(db).read() as r:
        return alerts.list_alerts(r, registry.get_model(r, model), open_only=open_only)


@st.cache_data(show_spinner="Explaining the decision…", max_entries=256)
def case_view(db: str, rev: tuple[int, int], model: str, request_id: str, units: str) -> Any:
    """A logged case explained (reasons, counterfactual, similar cases)."""
    from core.explain.cases import explain_case

    return explain_case(_store_at(db), model, request_id, units=units)


@st.cache_data(show_spinner=False, max_entries=256)
def what_if_view(
    db: str, rev: tuple[int, int], model: str, version: int, values: tuple[tuple[str, Any], ...]
) -> Any:
    """A case given as feature values, explained."""
    from core.explain.cases import explain_values

    return explain_values(_store_at(db), model, dict(values), version=version)


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
        _store_at(db), model, start=start, end=end, score_range=(lo, hi), flagged=flagged
    )


@st.cache_data(show_spinner="Measuring what drives the model…", max_entries=16)
def importance_view(
    db: str, rev: tuple[int, int], model: str, version: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Global importance (reference vs production) of a version and its ranking over time."""
    from core.explain.global_importance import global_importance, importance_over_time

    store_ = _store_at(db)
    return (
        global_importance(store_, model, version=version),
        importance_over_time(store_, model, version=version),
    )


@st.cache_data(show_spinner=False, max_entries=16)
def vocabulary_view(db: str, rev: tuple[int, int], model: str, version: int) -> Any:
    """Feature words and reference categories/ranges of a version (for forms)."""
    from core.registry.feature_metadata import vocabulary

    with _store_at(db).read() as r:
        entry = registry.get_model(r, model)
        target = registry.get_version(r, entry, version)
        return vocabulary(target, entry.task), registry.features_of(target), target.feature_schema


@st.cache_data(show_spinner=False, max_entries=16)
def overview_view(db: str, rev: tuple[int, int], model: str) -> dict[str, Any]:
    """Earnings, health lights and the attention list of the version the pages open on;
    `caption` says which it is."""
    from core.value import overview

    with _store_at(db).read() as r:
        entry = registry.get_model(r, model)
        shown = registry.opening_version(r, entry)
        return {
            "caption": shown.caption,
            "earnings": overview.earnings(r, entry, shown.version),
            "lights": overview.lights(r, entry, shown.version),
            "attention": overview.attention(r, entry),
        }


@st.cache_data(show_spinner="Putting a value on every decision…", max_entries=16)
def kpi_view(db: str, rev: tuple[int, int], model: str) -> dict[str, Any]:
    """Business case, threshold curve, KPI summary, value on the reference, KPI per period and
    the challengers of the version the pages open on."""
    from core.monitoring.windows import WindowSpec
    from core.value import business_case, kpi

    with _store_at(db).read() as r:
        entry = registry.get_model(r, model)
        shown = registry.opening_version(r, entry)
        target = shown.version
        case = business_case.current(entry)
        out: dict[str, Any] = {
            "case": case,
            "task": entry.task,
            "version": target.version,
            "caption": shown.caption,
            "summary": kpi.summary(r, entry, target),
            "reference": kpi.on_reference(r, entry, target),
            "challengers": [v.version for v in registry.challenger_versions(r, entry, target)],
        }
        out["windows"] = kpi.by_window(r, entry, target, WindowSpec.parse(case["period"]))
        if entry.task == "binary":
            pos, neg = kpi.curve_counts(r, entry, target)
            out["curve"] = kpi.threshold_curve(pos, neg, case)
        return out


@st.cache_data(show_spinner="Scoring the same decisions with both versions…", max_entries=16)
def compare_view(
    db: str, rev: tuple[int, int], model: str, champion: int, challenger: int
) -> pd.DataFrame:
    """Champion vs challenger in money on the same labelled decisions."""
    from core.value.champion import compare

    return compare(_store_at(db), model, champion, challenger)


@st.cache_data(show_spinner=False, max_entries=16)
def approvals_view(db: str, rev: tuple[int, int]) -> list[dict[str, Any]]:
    """Versions waiting for a sign-off or a promotion, with their frozen evidence and history."""
    from core import workflow
    from core.workflow import rules

    out = []
    with _store_at(db).read() as r:
        for model, version in workflow.queue(r):
            review = None
            if version.stage == "in_review":
                review = workflow.open_review(r, model, version.version)
            history = workflow.history(r, model, version.version)
            live = next(
                (v for v in registry.list_versions(r, model) if v.stage == "production"), None
            )
            out.append(
                {
                    "model": model.name,
                    "version": version.version,
                    "stage": version.stage,
                    "created_by": version.created_by,
                    "description": version.description,
                    "evidence": review.evidence if review else None,
                    "evidence_sha256": review.evidence_sha256 if review else None,
                    "history": history,
                    "live": live.version if live else None,
                    "required": rules.required_signoffs(model),
                }
            )
    return out


@st.cache_data(show_spinner=False, max_entries=16)
def live_versions(db: str, rev: tuple[int, int]) -> list[dict[str, Any]]:
    """Each model's production version and what it replaced (for rollback)."""
    from core import workflow

    out = []
    with _store_at(db).read() as r:
        for model in registry.list_models(r):
            try:
                out.append(workflow.production(_store_at(db), model.name))
            except ModelBridgeError:
                continue
    return out


@st.cache_data(show_spinner=False, max_entries=16)
def audit_view(
    db: str, rev: tuple[int, int], model: str | None, actor: str | None, action: str | None
) -> tuple[pd.DataFrame, list[str]]:
    """Audit events matching the filters and the chain check's problems."""
    from core import audit

    with _store_at(db).read() as r:
        return audit.events(r, model=model, actor=actor, action=action, limit=5000), audit.verify(r)
