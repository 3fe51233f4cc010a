"""Verdicts on model performance, one per watched metric: alerts, status sentences and lights
are all worded from them, so none can call a metric fine while another calls it worse.

A window is judged on its outcomes once it has enough of them (core.monitoring.performance
measures it from MIN_LABELLED labels on), else on the label-free estimate. It gets no verdict
when it is too thin to tell: fewer rows than INCOMPLETE_SHARE of a usual window (a period that
has just begun), fewer labels than THIN_LABELS_SHARE of a usual labelled window (outcomes still
arriving), or a band wider than the change the metric must be able to show (DETECTABLE).
A metric is worse once CONSECUTIVE judged windows in a row are outside its usual range.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from core.metrics import METRIC_WORDS, metric_name
from core.monitoring.performance import LOWER_IS_BETTER

INCOMPLETE_SHARE = 0.25
# A window with under a ninth of the usual labels has three times the usual standard error.
THIN_LABELS_SHARE = 1 / 9
# The smallest change each metric must be able to show: a window whose band is wider than this
# on either side could not tell a real loss from chance.
DETECTABLE = dict.fromkeys(
    (
        "roc_auc",
        "precision",
        "recall",
        "f1",
        "accuracy",
        "calibration_error",
        "macro_f1",
        "weighted_f1",
    ),
    0.1,
)
# Error metrics of regression models: a share of the reference's own error.
DETECTABLE_SHARE = 0.5

REALIZED, ESTIMATED = "realized", "estimated"
WORSE, USUAL, TOO_FEW = "worse", "usual", "too_few"


def judged(perf: pd.DataFrame) -> pd.DataFrame:
    """PERF (core.monitoring.performance's frame) with each window's `basis`, the `value` it is
    judged on, whether it can be judged (`judged`) and whether it is outside its usual range
    (`past`, only where judged). Windows keep their order."""
    if perf.empty:
        return perf.assign(basis=[], value=[], judged=[], past=[])
    out = perf.copy()
    measured = out["realized"].notna()
    out["basis"] = measured.map({True: REALIZED, False: ESTIMATED})
    out["value"] = out["realized"].where(measured, out["estimated"])
    typical = out.drop_duplicates("window_start")["n"].median()
    labelled = out.loc[measured, "n_labeled"]
    usual_labels = labelled.median() if len(labelled) else 0.0
    half_width = (out["upper"] - out["lower"]) / 2
    reference = (out["upper"] + out["lower"]) / 2
    detectable = out["metric"].map(DETECTABLE).fillna(DETECTABLE_SHARE * reference.abs())
    out["judged"] = (
        out["value"].notna()
        & half_width.notna()
        & (out["n"] >= INCOMPLETE_SHARE * typical)
        & ~(measured & (out["n_labeled"] < THIN_LABELS_SHARE * usual_labels))
        & (half_width <= detectable)
    )
    out["past"] = out["judged"] & out["alert"].astype(bool)
    return out


@dataclass(frozen=True)
class MetricVerdict:
    """Where one metric stands on one basis: WORSE (a run of CONSECUTIVE judged windows outside
    the usual range), USUAL, or TOO_FEW (no window can be judged yet)."""

    metric: str
    basis: str
    state: str
    since: Any  # start of the run of windows outside the range, when WORSE
    window_start: Any  # the latest judged window (None when TOO_FEW)
    window_end: Any
    value: float | None
    lower: float | None
    upper: float | None
    n_labeled: int
    latest_past: bool  # the latest judged window is outside the range (maybe not yet a run)

    @property
    def words(self) -> str:
        """The metric's name for people ('AUC', 'calibration error')."""
        return metric_name(self.metric)

    @property
    def side(self) -> str:
        """How a loss reads for this metric: 'lower AUC', 'worse calibration error'."""
        return "worse" if self.metric in LOWER_IS_BETTER else "lower"


def verdicts(
    perf: pd.DataFrame, *, metrics: tuple[str, ...], consecutive: int
) -> list[MetricVerdict]:
    """One verdict per metric of METRICS and basis that PERF holds windows for, realized first."""
    table = judged(perf)
    out = []
    for basis in (REALIZED, ESTIMATED):
        for metric in metrics:
            rows = table[(table["metric"] == metric) & (table["basis"] == basis)]
            if rows.empty:
                continue
            out.append(_verdict(metric, basis, rows.sort_values("window_start"), consecutive))
    return out


def _verdict(metric: str, basis: str, rows: pd.DataFrame, consecutive: int) -> MetricVerdict:
    usable = rows[rows["judged"]]
    if usable.empty:
        return MetricVerdict(metric, basis, TOO_FEW, None, None, None, None, None, None, 0, False)
    flags = usable["past"].tolist()
    run = next((i for i, f in enumerate(reversed(flags)) if not f), len(flags))
    last = usable.iloc[-1]
    return MetricVerdict(
        metric=metric,
        basis=basis,
        state=WORSE if run >= consecutive else USUAL,
        since=usable.iloc[len(flags) - run]["window_start"] if run >= consecutive else None,
        window_start=last["window_start"],
        window_end=last["window_end"],
        value=float(last["value"]),
        lower=None if pd.isna(last["lower"]) else float(last["lower"]),
        upper=None if pd.isna(last["upper"]) else float(last["upper"]),
        n_labeled=int(last["n_labeled"]),
        latest_past=bool(last["past"]),
    )


def unjudged_tail(perf: pd.DataFrame, *, metric: str) -> pd.Series | None:
    """The latest window of METRIC with outcomes measured on but too few to judge, when it comes
    after every judged one (the week whose outcomes are still arriving), else None."""
    table = judged(perf)
    rows = table[(table["metric"] == metric) & table["realized"].notna()]
    rows = rows.sort_values("window_start")
    if rows.empty or bool(rows.iloc[-1]["judged"]):
        return None
    return rows.iloc[-1]


def performance_sentence(
    perf: pd.DataFrame,
    *,
    task: str,
    reference: dict[str, float],
    metrics: tuple[str, ...],
    consecutive: int,
) -> str:
    """What the estimate and the outcomes say about performance, worded from the verdicts.

    PERF must be judged on the windows alerts use, so that a sentence and an open alert never
    disagree. REFERENCE is the version's metrics on its evaluation data.
    """
    main = "roc_auc" if task == "binary" else "mae"
    if main not in reference or perf[perf["metric"] == main].empty:
        return ""
    words = METRIC_WORDS[main]
    trained = reference[main]
    found = verdicts(perf, metrics=tuple(dict.fromkeys((main, *metrics))), consecutive=consecutive)
    by = {(v.metric, v.basis): v for v in found}
    parts = []
    estimate = _latest_estimate(perf, main)
    if estimate is not None:
        change = estimate - trained
        if abs(change) < 0.005:
            parts.append(f"Estimated {words} unchanged at {estimate:.2f}.")
        else:
            direction = "down" if change < 0 else "up"
            parts.append(f"Estimated {words} {direction} {abs(change):.2f} against training.")
    measured = by.get((main, REALIZED))
    if measured is not None and measured.state != TOO_FEW:
        # What the labels measure comes first: an estimate from scores cannot see a change in
        # how outcomes follow the inputs (concept drift), the labels can.
        sentence = (
            f"Labels up to {pd.Timestamp(measured.window_end):%d %b} measure {words} "
            f"{measured.value:.2f} (training {trained:.2f})"
        )
        guess = _estimate_in(perf, main, measured.window_start)
        if guess is not None and measured.value is not None and abs(measured.value - guess) >= 0.05:
            sentence += (
                f", not the {guess:.2f} the scores suggest: outcomes no longer "
                "follow the inputs as they did in training"
            )
        parts.append(sentence + ".")
    tail = unjudged_tail(perf, metric=main)
    if tail is not None:
        parts.append(
            f"The {int(tail['n_labeled']):,} outcomes in so far for "
            f"{pd.Timestamp(tail['window_start']):%d %b}–{pd.Timestamp(tail['window_end']):%d %b} "
            f"are too few to judge: {words} could read anywhere from {tail['lower']:.2f} to "
            f"{tail['upper']:.2f} by chance."
        )
    parts.append(_judgement(found, metrics))
    return " ".join(p for p in parts if p)


def _judgement(found: list[MetricVerdict], metrics: tuple[str, ...]) -> str:
    watched = [v for v in found if v.metric in metrics]
    confirmed = [v for v in watched if v.basis == REALIZED and v.state == WORSE]
    if confirmed:
        return (
            "Labels confirm "
            + _and(
                [
                    f"a {v.side} {v.words} since {pd.Timestamp(v.since):%d %b}"
                    for v in sorted(confirmed, key=lambda v: v.since)
                ]
            )
            + "."
        )
    suspected = [v for v in watched if v.basis == ESTIMATED and v.state == WORSE]
    if suspected:
        return (
            "Estimates suggest "
            + _and([f"a {v.side} {v.words} since {pd.Timestamp(v.since):%d %b}" for v in suspected])
            + "; outcomes are not in yet to confirm it."
        )
    measured = [v for v in watched if v.basis == REALIZED and v.state != TOO_FEW]
    outside = [v for v in measured if v.latest_past]
    if outside:
        return (
            _and([f"{v.words[:1].upper()}{v.words[1:]}" for v in outside])
            + " measured outside the usual range in the latest judged window; "
            "one more such window in a row opens an alert."
        )
    if measured:
        return "Every measured metric is within its usual range."
    if any(v.basis == REALIZED for v in watched):
        return "Too few outcomes have arrived yet to judge performance on them."
    return "Too few outcomes have arrived yet to confirm it."


def _and(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _latest_estimate(perf: pd.DataFrame, metric: str) -> float | None:
    """The estimate of the latest window that is not just beginning."""
    typical = perf.drop_duplicates("window_start")["n"].median()
    rows = perf[
        (perf["metric"] == metric)
        & perf["estimated"].notna()
        & (perf["n"] >= INCOMPLETE_SHARE * typical)
    ]
    return None if rows.empty else float(rows.sort_values("window_start").iloc[-1]["estimated"])


def _estimate_in(perf: pd.DataFrame, metric: str, window_start: Any) -> float | None:
    rows = perf[(perf["metric"] == metric) & (perf["window_start"] == window_start)]
    value = rows["estimated"].iloc[0] if len(rows) else None
    return None if value is None or pd.isna(value) else float(value)
