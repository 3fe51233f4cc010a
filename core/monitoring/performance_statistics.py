"""Binary-model metrics from rows counted per score bin: ROC AUC, the confusion matrix at a
threshold, calibration error, the isotonic calibration behind the estimate, standard errors.

Calibration error is measured over about ten score groups of equal reference mass: over the fine
bins, a few labels per bin would make it mostly sampling noise.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import ndtr

from core.monitoring.drift_statistics import coarse_edges, coarsen
from core.monitoring.isotonic import isotonic_fit

SCORE_BINS = 200
CALIBRATION_GROUPS = 10


@dataclass(frozen=True)
class Counts:
    """Per score bin: rows, their score sum, labelled rows and labelled positives."""

    n: np.ndarray
    score_sum: np.ndarray
    labelled: np.ndarray
    positives: np.ndarray


def dense(frame: pd.DataFrame) -> Counts:
    """Arrays over all SCORE_BINS bins from a group's rows of binary_counts."""
    arrays = [np.zeros(SCORE_BINS) for _ in range(4)]
    idx = frame["bin"].to_numpy(dtype=int)
    for arr, col in zip(arrays, ("n", "s", "labelled", "positives"), strict=True):
        np.add.at(arr, idx, frame[col].fillna(0).to_numpy(dtype=float))
    return Counts(*arrays)


def auc_from_bins(pos: np.ndarray, neg: np.ndarray) -> float:
    """ROC AUC from positives and negatives per ascending score bin (ties within a bin = 1/2)."""
    p, q = pos.sum(), neg.sum()
    if p <= 0 or q <= 0:
        return float("nan")
    neg_below = np.cumsum(neg) - neg
    return float(np.sum(pos * (neg_below + 0.5 * neg)) / (p * q))


def confusion_metrics(tp: float, fp: float, tn: float, fn: float) -> dict[str, float]:
    """Precision, recall, F1 and accuracy from (possibly expected) confusion counts."""
    total = tp + fp + tn + fn
    precision = tp / (tp + fp) if tp + fp > 0 else float("nan")
    recall = tp / (tp + fn) if tp + fn > 0 else float("nan")
    f1 = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn > 0 else float("nan")
    return {
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "accuracy": (tp + tn) / total if total > 0 else float("nan"),
    }


def calibration_groups(ref: Counts) -> np.ndarray:
    """Score-bin boundaries cutting the reference into about CALIBRATION_GROUPS equal parts."""
    return coarse_edges(ref.n, CALIBRATION_GROUPS)


def _calibration_error(
    weight: np.ndarray, score_sum: np.ndarray, n: np.ndarray, outcome: np.ndarray
) -> float:
    """Weighted mean gap between each group's mean score and its (observed or expected) rate."""
    has = weight > 0
    if not has.any():
        return float("nan")
    mean_score = np.divide(score_sum, n, out=np.zeros(len(n)), where=n > 0)
    rate = np.divide(outcome, weight, out=np.zeros(len(n)), where=has)
    return float(np.sum(weight[has] * np.abs(mean_score[has] - rate[has])) / weight.sum())


def realized_binary(c: Counts, threshold: float, groups: np.ndarray) -> dict[str, float]:
    """Metrics from the labelled rows of a window."""
    neg = c.labelled - c.positives
    above = np.arange(SCORE_BINS) / SCORE_BINS >= threshold - 1e-12
    tp, fp = c.positives[above].sum(), neg[above].sum()
    fn, tn = c.positives[~above].sum(), neg[~above].sum()
    out = {"roc_auc": auc_from_bins(c.positives, neg), **confusion_metrics(tp, fp, tn, fn)}
    # Labelled rows' mean score per group is not kept separately; the group's mean is close.
    out["calibration_error"] = _calibration_error(
        *(coarsen(a, groups) for a in (c.labelled, c.score_sum, c.n, c.positives))
    )
    return out


def estimated_binary(
    c: Counts, calibrate: Any, threshold: float, groups: np.ndarray
) -> dict[str, float]:
    """Expected metrics of a window from its scores and the reference calibration."""
    has = c.n > 0
    mean_score = np.divide(c.score_sum, c.n, out=np.zeros(SCORE_BINS), where=has)
    prob = np.where(has, calibrate(mean_score), 0.0)
    pos = c.n * prob
    neg = c.n - pos
    above = np.arange(SCORE_BINS) / SCORE_BINS >= threshold - 1e-12
    out = {
        "roc_auc": auc_from_bins(pos, neg),
        **confusion_metrics(
            pos[above].sum(), neg[above].sum(), neg[~above].sum(), pos[~above].sum()
        ),
    }
    n = coarsen(c.n, groups)
    out["calibration_error"] = _calibration_error(
        n, coarsen(c.score_sum, groups), n, coarsen(pos, groups)
    )
    return out


def calibrator(ref: Counts) -> Any:
    """Isotonic map from score to probability of the positive label, fitted on reference bins;
    None when the reference has no outcomes to fit it on."""
    has = ref.labelled > 0
    if not has.any():
        return None
    x = np.divide(ref.score_sum, ref.n, out=np.zeros(SCORE_BINS), where=ref.n > 0)[has]
    y = ref.positives[has] / ref.labelled[has]
    return isotonic_fit(x, y, ref.labelled[has], y_min=0.0, y_max=1.0)


def calibration_band(ref: Counts, groups: np.ndarray, n: float) -> tuple[float, float]:
    """Mean and standard deviation of the calibration error measured on N labelled rows of a
    window calibrated like the reference: each group's rate misses its mean score by the
    reference's gap plus the noise of a rate on its share of N (a folded normal per group)."""
    labelled, positives = coarsen(ref.labelled, groups), coarsen(ref.positives, groups)
    has = labelled > 0
    share = labelled[has] / labelled.sum()
    rate = positives[has] / labelled[has]
    gap = coarsen(ref.score_sum, groups)[has] / coarsen(ref.n, groups)[has] - rate
    noise = np.sqrt(np.maximum(rate * (1 - rate), 1e-4) / np.maximum(n * share, 1.0))
    size = noise * np.sqrt(2 / np.pi) * np.exp(-((gap / noise) ** 2) / 2) + gap * (
        1 - 2 * ndtr(-gap / noise)
    )
    spread = np.maximum(gap**2 + noise**2 - size**2, 0.0)
    return float(np.sum(share * size)), float(np.sqrt(np.sum(share**2 * spread)))


def standard_error(metric: str, value: float, n: float, prevalence: float, flagged: float) -> float:
    """Approximate standard error of a metric measured on N rows."""
    if n <= 0 or math.isnan(value):
        return float("nan")
    if metric == "roc_auc":  # Hanley & McNeil (1982)
        n_pos, n_neg = max(n * prevalence, 1.0), max(n * (1 - prevalence), 1.0)
        q1, q2 = value / (2 - value), 2 * value**2 / (1 + value)
        var = (
            value * (1 - value) + (n_pos - 1) * (q1 - value**2) + (n_neg - 1) * (q2 - value**2)
        ) / (n_pos * n_neg)
        return math.sqrt(max(var, 0.0))
    effective = {
        "precision": n * flagged,
        "recall": n * prevalence,
        "f1": n * max(prevalence, flagged),
        "accuracy": n,
        "calibration_error": n,
    }[metric]
    # Calibration error averages each group's observed rate, which is as noisy as a rate.
    p = prevalence if metric == "calibration_error" else min(max(value, 0.0), 1.0)
    return math.sqrt(max(p * (1 - p), 0.25 / max(effective, 1.0)) / max(effective, 1.0))
