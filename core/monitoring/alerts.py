"""Alerts: drift and performance signals that stay past their threshold, and the retraining call.

A signal opens an alert when it is past its threshold for `consecutive` windows in a row
(default 2) and resolves when the latest window is back within it. Opening and resolving write
a webhook event into an outbox in the same transaction; delivery happens after commit with a
timeout, so a dead endpoint never blocks ingestion or the dashboard.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

import pandas as pd
from sqlmodel import col, select

from core import audit
from core.auth import Identity, require_action
from core.errors import InvalidInput, NotFound
from core.metrics import METRIC_WORDS
from core.monitoring import drift
from core.monitoring.alert_list import alert_record, alerts_basis, basis_key, list_alerts
from core.monitoring.drift import PREDICTION, drift_by_window
from core.monitoring.multivariate import reconstruction_drift
from core.monitoring.performance import LOWER_IS_BETTER, performance_by_window
from core.monitoring.performance_verdicts import INCOMPLETE_SHARE, judged
from core.monitoring.windows import WindowSpec
from core.registry import get_model, get_version
from core.store import Alert, Model, ModelVersion, Store, Work, put_meta, utcnow

DEFAULT_CONSECUTIVE = 2
WATCHED_METRICS = {
    "binary": ("roc_auc", "calibration_error"),
    "regression": ("mae", "rmse"),
    "multiclass": ("accuracy", "macro_f1"),
}


@dataclass(frozen=True)
class AlertSettings:
    """How alerts are judged for one model."""

    consecutive: int = DEFAULT_CONSECUTIVE
    period: str = "W"
    metrics: tuple[str, ...] = ()

    @classmethod
    def of(cls, model: Model) -> AlertSettings:
        """The model's alert settings, with defaults."""
        raw = model.settings.get("alerts", {})
        return cls(
            int(raw.get("consecutive", DEFAULT_CONSECUTIVE)),
            str(raw.get("period", "W")),
            tuple(raw.get("metrics", WATCHED_METRICS[model.task])),
        )


def signals(w: Work, *, model: Model, version: ModelVersion, spec: WindowSpec) -> pd.DataFrame:
    """Every watched signal per window: kind, subject, past threshold or not, and its numbers.

    A drift signal is past when its feature's verdict is `drifted` (core.monitoring.drift), and
    carries the verdict's rule.
    """
    frames = []
    drift = drift_by_window(w, model=model, version=version, spec=spec)
    if not drift.empty:
        primary = drift[drift["primary"]].copy()
        primary["kind"] = primary["feature"].map(
            lambda f: "prediction_drift" if f == PREDICTION else "drift"
        )
        primary["subject"] = primary["feature"]
        primary["past"] = primary["drifted"]
        primary["evidence"] = primary["method"]
        frames.append(primary)
    multi = reconstruction_drift(w, model=model, version=version, spec=spec)
    if not multi.empty:
        multi = multi.assign(
            kind="multivariate",
            subject="all inputs",
            past=multi["alert"],
            threshold=multi["upper"],
            evidence="pca_reconstruction",
        )
        frames.append(multi)
    perf = performance_by_window(w, model=model, version=version, spec=spec)
    settings = AlertSettings.of(model)
    perf = perf[perf["metric"].isin(settings.metrics)].copy()
    if not perf.empty:
        # Labelled windows and label-less windows are separate signals: windows still waiting
        # for labels must not "clear" a loss that the labels already confirmed. Windows too thin
        # to judge neither open nor clear an alert (core.monitoring.performance_verdicts).
        perf = judged(perf)
        perf = perf[perf["judged"]].copy()
        perf["kind"] = "performance"
        perf["evidence"] = perf["basis"]
        perf["subject"] = perf["metric"].where(
            perf["basis"] == "realized", perf["metric"] + " (estimated)"
        )
        worse_up = perf["metric"].isin(sorted(LOWER_IS_BETTER))
        perf["threshold"] = perf["upper"].where(worse_up, perf["lower"])
        frames.append(perf)
    if not frames:
        return pd.DataFrame()
    keep = ["kind", "subject", "window_start", "n", "past", "value", "threshold", "evidence"]
    out = pd.concat([f.reindex(columns=[*keep, "rule"]) for f in frames], ignore_index=True)
    typical = out.groupby("window_start")["n"].max().median()
    return out[out["n"] >= INCOMPLETE_SHARE * typical].sort_values(
        ["kind", "subject", "window_start"]
    )


@dataclass
class Refresh:
    """What a refresh changed."""

    opened: list[int] = field(default_factory=list)
    resolved: list[int] = field(default_factory=list)
    still_open: list[int] = field(default_factory=list)


def refresh(store: Store, *, model: str, version: int | None = None) -> Refresh:
    """Recompute the signals and open, update or resolve the model's alerts."""
    store.open()
    with store.read() as r:
        entry = get_model(r, name=model)
        target = get_version(r, model=entry, version=version)
        settings = AlertSettings.of(entry)
        basis = alerts_basis(r, model=entry)
        found = signals(r, model=entry, version=target, spec=WindowSpec.parse(settings.period))
    outcome = Refresh()
    with store.write() as w:
        if version is None:  # what a listing compares with (core.monitoring.alert_list)
            put_meta(w, key=basis_key(entry), value=basis)
        if not drift.is_calibrated(target):  # registered before calibration: store it now
            drift.calibrate(
                w, model=entry, version=get_version(w, model=entry, version=target.version)
            )
        still = w.session.exec(
            select(Alert).where(
                Alert.model_id == entry.id, col(Alert.status).in_(["open", "acknowledged"])
            )
        ).all()
        current = {(a.kind, a.subject): a for a in still if a.version == target.version}
        if version is None:
            # The model is now judged on another version: what its old one showed is moot.
            for old in (a for a in still if a.version != target.version):
                _resolve(w, entry, old, outcome)
        if found.empty:
            return outcome
        for key, series in found.groupby(["kind", "subject"], sort=True):
            kind, subject = cast(tuple[str, str], key)  # both columns hold text
            run = _trailing_run(series["past"].tolist())
            latest = series.iloc[-1]
            existing = current.get((kind, subject))
            if existing is not None and not bool(latest["past"]):
                _resolve(w, entry, existing, outcome)
            elif existing is not None:
                existing.last_seen = _aware(latest["window_start"])
                existing.value = _num(latest["value"])
                existing.reason = _reason(
                    kind, subject, series.iloc[-run:] if run else series.iloc[-1:], settings
                )
                w.session.add(existing)
                outcome.still_open.append(existing.id)
            elif run >= settings.consecutive:
                first = series.iloc[-run]
                assert entry.id is not None
                alert = Alert(
                    model_id=entry.id,
                    version=target.version,
                    kind=kind,
                    subject=subject,
                    since=_aware(first["window_start"]),
                    last_seen=_aware(latest["window_start"]),
                    severity=_severity(kind, latest),
                    reason=_reason(kind, subject, series.iloc[-run:], settings),
                    value=_num(latest["value"]),
                    threshold=_num(latest["threshold"]),
                )
                w.session.add(alert)
                w.session.flush()
                _outbox(w, "alert_opened", entry, alert)
                assert alert.id is not None
                outcome.opened.append(alert.id)
    return outcome


def _resolve(w: Work, model: Model, alert: Alert, outcome: Refresh) -> None:
    assert alert.id is not None
    alert.status, alert.resolved_at = "resolved", utcnow()
    w.session.add(alert)
    _outbox(w, "alert_resolved", model, alert)
    outcome.resolved.append(alert.id)


def _trailing_run(flags: list[bool]) -> int:
    run = 0
    for flag in reversed(flags):
        if not flag:
            break
        run += 1
    return run


def _aware(value: Any) -> datetime:
    stamp = pd.Timestamp(value)
    return (stamp.tz_localize(UTC) if stamp.tzinfo is None else stamp).to_pydatetime()


def _num(value: Any) -> float | None:
    return None if value is None or pd.isna(value) else float(value)


def _severity(kind: str, latest: pd.Series) -> str:
    if kind == "performance":
        return "high" if latest["evidence"] == "realized" else "medium"
    if kind in ("prediction_drift", "multivariate"):
        return "medium"
    value, threshold = _num(latest["value"]), _num(latest["threshold"])
    return "medium" if value and threshold and value >= 2 * threshold else "low"


def _reason(kind: str, subject: str, run: pd.DataFrame, settings: AlertSettings) -> str:
    last = run.iloc[-1]
    since = f"{pd.Timestamp(run.iloc[0]['window_start']):%Y-%m-%d}"
    windows = f"{len(run)} {'window' if len(run) == 1 else 'windows'} in a row since {since}"
    value, threshold = _num(last["value"]), _num(last["threshold"])
    numbers = f"{value:.3g} against a threshold of {threshold:.3g}" if value is not None else ""
    if kind == "performance":
        basis = (
            "measured on labels" if last["evidence"] == "realized" else "estimated without labels"
        )
        name = subject.replace(" (estimated)", "")
        metric = METRIC_WORDS.get(name, name.replace("_", " "))
        return (
            f"{metric[:1].upper()}{metric[1:]} {basis} is outside the reference range "
            f"({numbers}) for {windows}."
        )
    if kind == "multivariate":
        return f"The inputs' joint pattern changed (reconstruction error {numbers}) for {windows}."
    what = "The model's scores" if kind == "prediction_drift" else f"Input '{subject}'"
    return f"{what} drifted from the reference ({last['rule']}) for {windows}."


def _outbox(w: Work, event: str, model: Model, alert: Alert) -> None:
    payload = {
        "event": event,
        "model": model.name,
        "alert": alert_record(alert.model_dump()),
        "sent_at": datetime.now(UTC).isoformat(),
    }
    w.catalog(
        "INSERT INTO webhook_outbox (id, created_at, payload) "
        "VALUES (:id, now() AT TIME ZONE 'UTC', :payload)",
        {"id": uuid.uuid4().hex, "payload": json.dumps(payload, default=str)},
    )


def acknowledge(store: Store, *, model: str, alert_id: int, by: Identity, note: str = "") -> Alert:
    """Mark an open alert as seen by a person (audited)."""
    require_action(by, "acknowledge_alert")
    with store.write() as w:
        entry = get_model(w, name=model)
        alert = w.session.get(Alert, alert_id)
        if alert is None or alert.model_id != entry.id:
            raise NotFound(f"model {model!r} has no alert {alert_id}")
        if alert.status != "open":
            raise InvalidInput(
                f"alert {alert_id} is {alert.status}; only open alerts can be acknowledged"
            )
        alert.status, alert.acknowledged_by, alert.acknowledged_at = (
            "acknowledged",
            by.username,
            utcnow(),
        )
        w.session.add(alert)
        audit.record(
            w,
            actor=by.username,
            role=by.role,
            action="alert_acknowledged",
            model=model,
            version=alert.version,
            before={"status": "open"},
            after={"status": "acknowledged", "alert": alert_id, "note": note},
        )
    return alert


@dataclass(frozen=True)
class RetrainAdvice:
    """Whether retraining is recommended, why, and the evidence."""

    recommended: bool
    reason: str
    evidence: dict[str, Any]


def retrain_check(store: Store, *, model: str) -> RetrainAdvice:
    """Recommend retraining on confirmed performance loss, or on drift the scores follow."""
    with store.open().read() as r:
        entry = get_model(r, name=model)
        version = get_version(r, model=entry)
        open_alerts = list_alerts(r, model=entry, open_only=True)
        perf = performance_by_window(
            r, model=entry, version=version, spec=WindowSpec.parse(AlertSettings.of(entry).period)
        )
    key = "roc_auc" if entry.task == "binary" else "mae"
    reference = version.metrics.get(key)
    latest = perf[perf["metric"] == key].tail(1)
    loss = None
    if reference is not None and not latest.empty:
        row = latest.iloc[0]
        now = row["realized"] if pd.notna(row["realized"]) else row["estimated"]
        if pd.notna(now):
            loss = (reference - now) if entry.task == "binary" else (now - reference)
    confirmed = [a for a in open_alerts if a["kind"] == "performance" and a["severity"] == "high"]
    scored = [a for a in open_alerts if a["kind"] == "prediction_drift"]
    inputs = [a for a in open_alerts if a["kind"] == "drift"]
    evidence = {
        "model": entry.name,
        "version": version.version,
        "alerts": [
            {k: a[k] for k in ("id", "kind", "subject", "since", "severity")} for a in open_alerts
        ],
        "since": min((a["since"] for a in open_alerts), default=None),
        f"estimated_{key}_change": None
        if loss is None
        else -loss
        if entry.task == "binary"
        else loss,
    }
    if confirmed:
        names = ", ".join(a["subject"] for a in confirmed)
        return RetrainAdvice(
            True,
            f"Labels confirm lower performance ({names}) since {confirmed[0]['since'][:10]}.",
            evidence,
        )
    if scored and inputs:
        features = ", ".join(a["subject"] for a in inputs[:5])
        return RetrainAdvice(
            True,
            f"Inputs drifted ({features}) and the model's scores moved with them since "
            f"{scored[0]['since'][:10]}.",
            evidence,
        )
    if len(inputs) >= 3:
        return RetrainAdvice(
            True, f"{len(inputs)} inputs drifted from the training data.", evidence
        )
    return RetrainAdvice(False, "No open alert calls for retraining.", evidence)
