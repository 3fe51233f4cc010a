"""The manager's view of one model: is it earning, is it healthy, what needs attention.

Built from cheap sources: stored alerts (re-checked when logs arrive), the data-quality
headline, the latest latency and the headline money figure with its basis
(core.value.figures). Each light has a colour and one sentence in business words.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pandas as pd
from sqlmodel import col, select

from core.monitoring import alert_words, alerts, data_quality
from core.monitoring.windows import WindowSpec
from core.registry.feature_metadata import Vocabulary, vocabulary
from core.store import Model, ModelVersion, Work
from core.value import class_value, figures, kpi
from core.value.business_case import current, values_set
from core.value.figures import Figure
from core.value.track_record import UNRELIABLE, TrackRecord
from core.words import day, in_sentence, money, quality

GREEN, AMBER, RED = "green", "amber", "red"
# Nothing measured to judge by: neither fine nor a problem.
UNKNOWN = "unknown"


@dataclass(frozen=True)
class Light:
    """One health signal: GREEN, AMBER, RED, or UNKNOWN when there is nothing to judge by."""

    name: str
    status: str
    sentence: str


@dataclass(frozen=True)
class Earnings:
    """The headline figure against target and baseline, with the trend and the estimate's
    track record (core.value.figures.headline): FIGURE is None when nothing can be shown;
    CAVEAT says how far the estimate can be trusted."""

    unit: str
    figure: Figure | None
    estimate: Figure | None
    track: TrackRecord | None
    target: float | None
    baseline: float | None
    trend: pd.DataFrame
    label: str
    sentence: str
    caveat: str = ""

    @property
    def value(self) -> float | None:
        """The headline value per period."""
        return None if self.figure is None else self.figure.value_per_period

    @property
    def estimated(self) -> bool:
        """Whether the headline is an estimate from the scores."""
        return self.figure is not None and self.figure.basis.kind == figures.ESTIMATED

    @property
    def unreliable(self) -> bool:
        """Whether the estimate missed in the latest periods outcomes could check it in."""
        return self.track is not None and self.track.status == UNRELIABLE


def earnings(w: Work, *, model: Model, version: ModelVersion) -> Earnings:
    """The latest period's value per period with its basis: measured where enough outcomes are
    in, else estimated, unless the estimate has been missing (then the latest measured one)."""
    case = current(model)
    unit = case["unit"]
    if not values_set(model, case):
        return Earnings(
            unit, None, None, None, None, None, pd.DataFrame(), "",
            "No business case yet: a product owner can say what each decision is "
            "worth on the Business value page.",
        )  # fmt: skip
    if model.task == "multiclass":  # valued by its matrix, per decision (core.value.class_value)
        found = class_value.overall(w, model=model, version=version)
        return Earnings(
            unit, None, None, None, case["target"], None, pd.DataFrame(), "",
            found.sentence() + " Its value per period and its trend are not shown here yet.",
        )  # fmt: skip
    windows = kpi.by_window(w, model=model, version=version, spec=WindowSpec.parse(case["period"]))
    top = figures.headline(w, model=model, version=version, windows=windows)
    if top.figure is None or top.figure.value_per_period is None:
        return Earnings(
            unit, None, top.estimate, top.track, case["target"], None, windows, "", top.sentence
        )
    value = top.figure.value_per_period
    volume = top.figure.basis.decisions_per_period
    baseline = None if case["baseline_value"] is None else case["baseline_value"] * volume
    kind = "Estimated" if top.figure.basis.kind == figures.ESTIMATED else "Measured"
    words = f"{kind} in {top.figure.basis.when}: {top.figure.per_period_words()}"
    if case["target"] is not None:
        gap = value - case["target"]
        words += f", {money(abs(gap), unit)} {'above' if gap >= 0 else 'below'} the target"
    if baseline is not None:
        gain = value - baseline
        words += (
            f"; {money(abs(gain), unit)} {'more' if gain >= 0 else 'less'} than "
            f"{case['baseline'] or 'working without the model'}"
        )
    return Earnings(
        unit, top.figure, top.estimate, top.track, case["target"], baseline, windows, top.label,
        f"{words}. {top.figure.basis.words()}", top.sentence,
    )  # fmt: skip


def lights(w: Work, *, model: Model, version: ModelVersion) -> list[Light]:
    """Drift, data quality, latency and performance as traffic lights with a reason each."""
    open_alerts = alerts.list_alerts(w, model=model, open_only=True)
    return [
        _drift_light(open_alerts, vocabulary(version, model.task)),
        _quality_light(w, model),
        _latency_light(w, model),
        _performance_light(open_alerts, version, model),
    ]


def _drift_light(open_alerts: list[dict[str, Any]], words: Vocabulary) -> Light:
    inputs = [a for a in open_alerts if a["kind"] == "drift"]
    scores = [a for a in open_alerts if a["kind"] in ("prediction_drift", "multivariate")]
    if not inputs and not scores:
        return Light("Inputs", GREEN, "Production inputs look like the training data.")
    labels = sorted(in_sentence(words.info(a["subject"]).label) for a in inputs)
    names = ", ".join(labels[:4]) or "their joint pattern"
    since = day(datetime.fromisoformat(min(a["since"] for a in inputs + scores)))
    status = RED if any(a["kind"] == "prediction_drift" for a in scores) else AMBER
    tail = " and the model's scores moved with them" if status == RED else ""
    return Light("Inputs", status, f"Inputs changed since {since} ({names}){tail}.")


def _quality_light(w: Work, model: Model) -> Light:
    head = data_quality.headline(w, model=model, period="D")
    if head.period is None:  # no traffic yet
        return Light("Data quality", UNKNOWN, head.text)
    status = {"ok": GREEN, "warning": AMBER, "error": RED}[head.severity]
    first = head.text.split(". ")[0].rstrip(".") + "."
    return Light("Data quality", status, first)


def _latency_light(w: Work, model: Model) -> Light:
    lat = data_quality.latency(
        w,
        model=model,
        period="D",
        since=data_quality.latest_period_start(w, model=model, period="D"),
    )
    if lat.empty:
        return Light("Speed", UNKNOWN, "No latency measurements yet: no requests are logged.")
    if pd.isna(lat.iloc[-1]["latency_p95"]):
        return Light(
            "Speed",
            UNKNOWN,
            f"No latency measured on {day(lat.iloc[-1]['period'])}: log latency_ms with "
            "the predictions to watch speed.",
        )
    p95, slo = float(lat.iloc[-1]["latency_p95"]), data_quality.latency_slo(model)
    if p95 <= slo:
        return Light(
            "Speed", GREEN, f"95% of answers took under {p95:,.0f} ms (target {slo:,.0f} ms)."
        )
    status = RED if p95 > 2 * slo else AMBER
    return Light(
        "Speed", status, f"Answers are slow: 95% under {p95:,.0f} ms, target {slo:,.0f} ms."
    )


def _performance_light(
    open_alerts: list[dict[str, Any]], version: ModelVersion, model: Model
) -> Light:
    perf = [a for a in open_alerts if a["kind"] == "performance"]
    confirmed = [a for a in perf if a["severity"] == "high"]
    if confirmed:
        return Light(
            "Accuracy",
            RED,
            f"Outcomes confirm the model got worse since "
            f"{day(datetime.fromisoformat(confirmed[0]['since']))}; retraining is recommended.",
        )
    if perf:
        return Light(
            "Accuracy",
            AMBER,
            "Estimates suggest the model got worse; outcomes are not in yet to confirm it.",
        )
    if not any(version.metrics.get(k) is not None for k in ("roc_auc", "mae", "accuracy")):
        return Light("Accuracy", GREEN, "Performance is in line with training.")
    return Light(
        "Accuracy",
        GREEN,
        "Performance is in line with training, where it "
        f"{quality(model.task, version.metrics, clause=True)}.",
    )


def attention(w: Work, *, model: Model) -> list[str]:
    """Things a manager should act on: approvals waiting, open alerts."""
    from core.store import ModelVersion as Version

    waiting = w.session.exec(
        select(Version).where(
            Version.model_id == model.id,
            col(Version.stage).in_(["registered", "in_review", "approved"]),
        )
    ).all()
    items = []
    for v in waiting:
        stage = {
            "registered": "registered and not yet in review",
            "in_review": "waiting for sign-off",
            "approved": "approved and ready to go live",
        }[v.stage]
        items.append(f"Version {v.version} is {stage}.")
    open_alerts = alerts.list_alerts(w, model=model, open_only=True)
    unseen = [a for a in open_alerts if a["status"] == "open"]
    if open_alerts:
        items.append(
            f"{_count(len(open_alerts), 'open alert')}, {len(unseen)} not yet acknowledged."
        )
        items += alert_words.plain_reasons(w, model=model, found=open_alerts)
    return items


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"
