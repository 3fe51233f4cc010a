"""The st.cache_* wrappers around core (with app.explain_data). Cache keys are small values plus
the store revision."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

import pandas as pd
import streamlit as st

from app.views import (
    AlertEntry,
    AuditView,
    DriftView,
    KpiView,
    LiveVersion,
    ModelEntry,
    OverviewView,
    QualityView,
    TrafficSpan,
    TrafficView,
    VersionEntry,
    WaitingVersion,
)
from core import registry
from core.errors import ModelBridgeError
from core.monitoring import traffic
from core.settings import Settings
from core.store import Store

if TYPE_CHECKING:
    from core.monitoring.data_quality import Headline
    from core.value.champion import Comparison


@st.cache_resource(show_spinner=False)
def store_at(path: str) -> Store:
    """The store at PATH (a file or a team catalog URL), opened once per server process."""
    found = Store.from_settings(Settings.from_env(path))
    # A store written by an older release is upgraded once, when the app first opens it.
    return found.open() if found.exists() else found


def store() -> Store:
    """The store named by MODELBRIDGE_DB (or the default path)."""
    return store_at(Settings.from_env().db)


def revision() -> tuple[int, int]:
    """Changes whenever another process commits a write."""
    return store().revision()


@st.cache_data(show_spinner=False, max_entries=64)
def models_table(db: str, rev: tuple[int, int]) -> list[ModelEntry]:
    """Every model with its versions, by name."""
    out = []
    with store_at(db).read() as r:
        for model in registry.list_models(r):
            versions = tuple(
                VersionEntry(
                    v.version,
                    v.stage,
                    v.metrics,
                    v.created_by,
                    v.created_at,
                    v.git_sha,
                    v.data_sha256,
                    v.data_rows,
                    v.artifact_path,
                    v.artifact_sha256,
                    v.artifact_format,
                    v.feature_schema,
                )
                for v in registry.list_versions(r, model=model)
            )
            out.append(
                ModelEntry(
                    model.id,
                    model.name,
                    model.task,
                    model.positive_label,
                    model.owner,
                    model.description,
                    versions,
                )
            )
    return out


@st.cache_data(show_spinner=False, max_entries=64)
def opening_version(db: str, rev: tuple[int, int], model: str) -> int:
    """The version every page opens on (core.registry.opening_version)."""
    with store_at(db).read() as r:
        return registry.opening_version(r, model=registry.get_model(r, name=model)).version.version


@st.cache_data(show_spinner=False, max_entries=64)
def traffic_span(db: str, rev: tuple[int, int], model: str) -> TrafficSpan:
    """First and last day with traffic and the total predictions."""
    with store_at(db).read() as r:
        return TrafficSpan(*traffic.span(r, model=registry.get_model(r, name=model)))


@st.cache_data(show_spinner=False, max_entries=64)
def traffic_view(
    db: str, rev: tuple[int, int], model: str, version: int | None, start: date, end: date
) -> TrafficView:
    """Daily traffic, score distribution per day and headline totals for the traffic page."""
    with store_at(db).read() as r:
        entry = registry.get_model(r, name=model)
        flt = traffic.TrafficFilter(entry.id, version, start, end)
        lo, hi = traffic.score_range(r, model=entry)
        totals = traffic.totals(r, flt=flt)
        return TrafficView(
            traffic.daily_traffic(r, flt=flt),
            traffic.score_distribution(r, flt=flt, lo=lo, hi=hi),
            totals["predictions"],
            totals["mean_score"],
            totals["latency_p95"],
            entry.task,
        )


@st.cache_data(show_spinner=False, max_entries=32)
def quality_view(db: str, rev: tuple[int, int], model: str, period: str) -> QualityView:
    """Everything the data-quality page draws, aggregated in DuckDB."""
    from core.monitoring import data_quality

    with store_at(db).read() as r:
        entry = registry.get_model(r, name=model)
        features = registry.features_of(registry.get_version(r, model=entry))
        return QualityView(
            data_quality.headline(r, model=entry, period=period),
            data_quality.volume(r, model=entry, period=period),
            data_quality.reasons(r, model=entry, period=period),
            data_quality.feature_rates(r, model=entry, features=features, period=period),
            data_quality.latency(r, model=entry, period=period),
            data_quality.batches(r, model=entry),
            data_quality.latency_slo(entry),
        )


@st.cache_data(show_spinner=False, max_entries=32)
def quarantine_samples(db: str, rev: tuple[int, int], model: str, batch_id: str) -> pd.DataFrame:
    """Quarantined rows of one batch for the drill-down."""
    from core.monitoring import data_quality

    with store_at(db).read() as r:
        return data_quality.samples(r, model=registry.get_model(r, name=model), batch_id=batch_id)


@st.cache_data(show_spinner=False, max_entries=32)
def quality_headline(db: str, rev: tuple[int, int], model: str) -> Headline:
    """The data-quality headline of the latest day, for the overview."""
    from core.monitoring import data_quality

    with store_at(db).read() as r:
        return data_quality.headline(r, model=registry.get_model(r, name=model), period="D")


@st.cache_data(show_spinner="Comparing production with the training data…", max_entries=16)
def drift_view(
    db: str,
    rev: tuple[int, int],
    model: str,
    version: int | None,
    period: str | None,
    chunk_size: int | None,
) -> DriftView:
    """Drift, multivariate drift, performance and the status sentence for one window choice."""
    from core.monitoring import drift, drift_report, multivariate, performance
    from core.monitoring.alerts import AlertSettings
    from core.monitoring.windows import WindowSpec

    spec = WindowSpec.parse(period, chunk_size)
    with store_at(db).read() as r:
        entry = registry.get_model(r, name=model)
        target = registry.get_version(r, model=entry, version=version)
        table = drift.drift_by_window(r, model=entry, version=target, spec=spec)
        perf = performance.performance_by_window(r, model=entry, version=target, spec=spec)
        # The status is judged on the windows alerts use, whatever window the page shows, so
        # that it never calls a metric fine while an alert on it is open.
        judged_on = WindowSpec.parse(AlertSettings.of(entry).period)
        judged_perf = (
            perf
            if judged_on == spec
            else performance.performance_by_window(r, model=entry, version=target, spec=judged_on)
        )
        return DriftView(
            target.version,
            table,
            drift_report.drift_scores(table) if len(table) else table,
            drift_report.ranking(table) if len(table) else table,
            multivariate.reconstruction_drift(r, model=entry, version=target, spec=spec),
            perf,
            drift_report.status(entry, target, table, judged_perf),
        )


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

    with store_at(db).read() as r:
        entry = registry.get_model(r, name=model)
        target = registry.get_version(r, model=entry, version=version)
        return drift_report.distributions(
            r,
            model=entry,
            version=target,
            spec=WindowSpec.parse(period, chunk_size),
            feature=feature,
            window_start=window_start,
        )


@st.cache_data(show_spinner=False, max_entries=32)
def alerts_view(db: str, rev: tuple[int, int], model: str, open_only: bool) -> list[AlertEntry]:
    """Stored alerts of a model, newest first, each in plain words and with its statistic."""
    from core.monitoring import alert_words, alerts

    with store_at(db).read() as r:
        entry = registry.get_model(r, name=model)
        found = alerts.list_alerts(r, model=entry, open_only=open_only)
        plain = alert_words.plain_reasons(r, model=entry, found=found)
    return [
        AlertEntry(a["id"], a["severity"], said, a["reason"], a["status"], a["acknowledged_by"])
        for a, said in zip(found, plain, strict=True)
    ]


@st.cache_data(show_spinner=False, max_entries=16)
def overview_view(db: str, rev: tuple[int, int], model: str) -> OverviewView:
    """Earnings, health lights and the attention list of the version the pages open on;
    `caption` says which it is."""
    from core.value import overview

    with store_at(db).read() as r:
        entry = registry.get_model(r, name=model)
        shown = registry.opening_version(r, model=entry)
        return OverviewView(
            shown.caption,
            overview.earnings(r, model=entry, version=shown.version),
            overview.lights(r, model=entry, version=shown.version),
            overview.attention(r, model=entry),
        )


@st.cache_data(show_spinner="Putting a value on every decision…", max_entries=16)
def kpi_view(db: str, rev: tuple[int, int], model: str) -> KpiView:
    """Business case, threshold curve, KPI summary, value on the reference, KPI per period and
    the challengers of the version the pages open on."""
    from core.monitoring.windows import WindowSpec
    from core.value import business_case, figures, kpi

    with store_at(db).read() as r:
        entry = registry.get_model(r, name=model)
        shown = registry.opening_version(r, model=entry)
        target = shown.version
        case = business_case.current(entry)
        curve = None
        if entry.task == "binary":
            pos, neg = kpi.curve_counts(r, model=entry, version=target)
            curve = kpi.threshold_curve(pos, neg, case)
        windows = kpi.by_window(
            r, model=entry, version=target, spec=WindowSpec.parse(case["period"])
        )
        return KpiView(
            case,
            entry.task,
            target.version,
            shown.caption,
            kpi.summary(r, model=entry, version=target),
            kpi.on_reference(r, model=entry, version=target),
            figures.reference(r, model=entry, version=target),
            figures.realized_overall(r, model=entry, version=target),
            figures.headline(r, model=entry, version=target, windows=windows),
            windows,
            curve,
            [v.version for v in registry.challenger_versions(r, model=entry, champion=target)],
        )


@dataclass(frozen=True)
class ClassValueView:
    """A multiclass model's value for the pages: the figures in words, the value matrix
    (actual class by decided class) in money, its business case and classes, and the value
    per period of the business case."""

    said: str
    matrix: pd.DataFrame
    case: Any
    classes: list[str]
    windows: pd.DataFrame


@st.cache_data(show_spinner=False, max_entries=16)
def class_value_view(db: str, rev: tuple[int, int], model: str) -> ClassValueView:
    """A multiclass model's value for the version the pages open on."""
    from core.monitoring.windows import WindowSpec
    from core.value import business_case, class_value
    from core.words import money

    with store_at(db).read() as r:
        entry = registry.get_model(r, name=model)
        target = registry.opening_version(r, model=entry).version
        found = class_value.overall(r, model=entry, version=target)
        names = list(entry.classes or [])
        case = business_case.current(entry)
        matrix = business_case.value_matrix(entry, case)
        shown = pd.DataFrame(
            {
                "Class that held": names,
                **{
                    f"Decided {decided}": [money(row[i], found.unit) for row in matrix]
                    for i, decided in enumerate(names)
                },
            }
        )
        spec = WindowSpec.parse(case["period"])
        windows = class_value.by_window(r, model=entry, version=target, spec=spec)
        return ClassValueView(found.sentence(), shown, case, names, windows)


@st.cache_data(show_spinner="Scoring the same decisions with both versions…", max_entries=16)
def compare_view(
    db: str, rev: tuple[int, int], model: str, champion: int, challenger: int
) -> Comparison:
    """Champion vs challenger in money on the same labelled decisions."""
    from core.value.champion import compare

    return compare(store_at(db), model=model, champion=champion, challenger=challenger)


@st.cache_data(show_spinner=False, max_entries=16)
def approvals_view(db: str, rev: tuple[int, int]) -> list[WaitingVersion]:
    """Versions waiting for a sign-off or a promotion, with their frozen evidence and history."""
    from core import workflow
    from core.value import business_case
    from core.workflow import rules

    out = []
    with store_at(db).read() as r:
        for model, version in workflow.queue(r):
            review = workflow.judged_review(r, model=model, version=version.version)
            history = workflow.history(r, model=model, version=version.version)
            live = next(
                (v for v in registry.list_versions(r, model=model) if v.stage == "production"), None
            )
            out.append(
                WaitingVersion(
                    model.name,
                    version.version,
                    version.stage,
                    version.created_by,
                    version.description,
                    review.evidence if review else None,
                    review.evidence_sha256 if review else None,
                    history,
                    live.version if live else None,
                    rules.required_signoffs(model),
                    business_case.current(model)["unit"],
                    model.task,
                )
            )
    return out


@st.cache_data(show_spinner=False, max_entries=16)
def live_versions(db: str, rev: tuple[int, int]) -> list[LiveVersion]:
    """Each model's production version, the evidence it was approved on, and its rollback."""
    from core import workflow
    from core.value import business_case

    out = []
    with store_at(db).read() as r:
        for model in registry.list_models(r):
            try:
                live = workflow.production(store_at(db), model=model.name)
            except ModelBridgeError:
                continue
            review = workflow.judged_review(r, model=model, version=live["version"])
            out.append(
                LiveVersion(
                    live["model"],
                    live["version"],
                    live["approved_by"],
                    live["rollback_to"],
                    live["no_rollback_because"],
                    review.evidence if review else None,
                    review.evidence_sha256 if review else None,
                    business_case.current(model)["unit"],
                    model.task,
                )
            )
    return out


@st.cache_data(show_spinner=False, max_entries=16)
def audit_view(
    db: str, rev: tuple[int, int], model: str | None, actor: str | None, action: str | None
) -> AuditView:
    """Audit events matching the filters and the chain check's problems."""
    from core import audit

    with store_at(db).read() as r:
        return AuditView(
            audit.events(r, model=model, actor=actor, action=action, limit=5000), audit.verify(r)
        )
