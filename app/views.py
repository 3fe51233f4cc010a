"""What each cached view of app.data returns: one frozen record per page section, typed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

import pandas as pd

if TYPE_CHECKING:
    from core.monitoring.data_quality import Headline
    from core.registry.feature_metadata import Vocabulary
    from core.registry.features import Feature
    from core.value.business_case import BusinessCase
    from core.value.figures import Figure
    from core.value.figures import Headline as MoneyHeadline
    from core.value.kpi import ReferenceValue, Summary
    from core.value.overview import Earnings, Light


@dataclass(frozen=True)
class VersionEntry:
    """One registered version with its stage, metrics and lineage."""

    version: int
    stage: str
    metrics: dict[str, Any]
    created_by: str
    created_at: datetime
    git_sha: str | None
    data_sha256: str
    data_rows: int
    artifact_path: str | None
    artifact_sha256: str | None
    artifact_format: str | None
    feature_schema: dict[str, Any]


@dataclass(frozen=True)
class ModelEntry:
    """One registered model with its versions, newest first."""

    id: int
    name: str
    task: str
    positive_label: str | None
    owner: str
    description: str
    versions: tuple[VersionEntry, ...]


@dataclass(frozen=True)
class TrafficSpan:
    """First and last day with traffic, and the number of predictions logged."""

    first: date | None
    last: date | None
    predictions: int


@dataclass(frozen=True)
class TrafficView:
    """Daily traffic, the score distribution per day and the headline totals."""

    daily: pd.DataFrame
    scores: pd.DataFrame
    predictions: int
    mean_score: float | None
    latency_p95: float | None
    task: str


@dataclass(frozen=True)
class QualityView:
    """Everything the data-quality page draws for one model and period."""

    headline: Headline
    volume: pd.DataFrame
    reasons: pd.DataFrame
    features: pd.DataFrame
    latency: pd.DataFrame
    batches: pd.DataFrame
    slo_ms: float


@dataclass(frozen=True)
class DriftView:
    """Drift per window, its scores and ranking, multivariate drift, performance and status."""

    version: int
    drift: pd.DataFrame
    scores: pd.DataFrame
    ranking: pd.DataFrame
    multivariate: pd.DataFrame
    performance: pd.DataFrame
    status: str


@dataclass(frozen=True)
class AlertEntry:
    """One stored alert: how bad, why in plain words (WORDS) and with its statistic (REASON),
    and whether someone has seen it."""

    id: int
    severity: str
    words: str
    reason: str
    status: str
    acknowledged_by: str | None


@dataclass(frozen=True)
class ImportanceView:
    """Global importance (reference vs production) and each feature's rank per window."""

    overall: pd.DataFrame
    over_time: pd.DataFrame


@dataclass(frozen=True)
class VocabularyView:
    """A version's feature words, its features and its feature schema (for forms)."""

    words: Vocabulary
    features: list[Feature]
    schema: dict[str, Any]


@dataclass(frozen=True)
class OverviewView:
    """Earnings, health lights and the attention list; `caption` says which version they are of."""

    caption: str
    earnings: Earnings
    lights: list[Light]
    attention: list[str]


@dataclass(frozen=True)
class KpiView:
    """What the business-value page shows of one version; `curve` only for binary models."""

    case: BusinessCase
    task: str
    version: int
    caption: str
    summary: Summary
    reference: ReferenceValue
    reference_figure: Figure
    overall: Figure
    headline: MoneyHeadline
    windows: pd.DataFrame
    curve: pd.DataFrame | None
    challengers: list[int]


@dataclass(frozen=True)
class WaitingVersion:
    """A version waiting for a sign-off or a promotion, with the frozen evidence it is judged
    on (its open review's, or the one that approved it) and its history;
    UNIT is the model's currency, for evidence frozen before gates recorded theirs."""

    model: str
    version: int
    stage: str
    created_by: str
    description: str
    evidence: dict[str, Any] | None
    evidence_sha256: str | None
    history: list[dict[str, Any]]
    live: int | None
    required: dict[str, int]
    unit: str
    task: str


@dataclass(frozen=True)
class LiveVersion:
    """A model's production version, who approved it and on what evidence; UNIT and TASK as
    in WaitingVersion."""

    model: str
    version: int
    approved_by: str | None
    rollback_to: int | None  # the version a rollback would restore
    no_rollback_because: str | None
    evidence: dict[str, Any] | None  # what it was approved on
    evidence_sha256: str | None
    unit: str
    task: str


@dataclass(frozen=True)
class AuditView:
    """Audit events matching the filters, and what the hash-chain check found wrong."""

    events: pd.DataFrame
    problems: list[str]
