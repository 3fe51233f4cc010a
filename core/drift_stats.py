"""Drift statistics between a reference and a window, computed from binned counts.

Each method is registered by name and feature kind with a default threshold and a direction:
distances alert above their threshold, tests alert when their p-value falls below it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import stats
from scipy.spatial import distance

EPS = 1e-4
COARSE_BINS = 10


@dataclass(frozen=True)
class Method:
    """A drift statistic: how to compute it, its default threshold, and which side alerts."""

    name: str
    kinds: tuple[str, ...]
    threshold: float
    higher_is_drift: bool
    compute: Callable[..., float]

    def alert(self, value: float, threshold: float) -> bool:
        """Whether VALUE is past THRESHOLD on the drifting side."""
        if np.isnan(value):
            return False
        return value > threshold if self.higher_is_drift else value < threshold


def _shares(counts: np.ndarray) -> np.ndarray:
    total = counts.sum()
    return counts / total if total > 0 else np.zeros_like(counts, dtype=float)


def coarse_edges(ref_counts: np.ndarray, bins: int = COARSE_BINS) -> np.ndarray:
    """Fine-bin boundaries that cut the reference into about BINS equal-mass groups."""
    cum = np.cumsum(ref_counts) / max(ref_counts.sum(), 1)
    cuts = np.searchsorted(cum, np.linspace(0, 1, bins + 1)[1:-1], side="right")
    return np.unique(np.concatenate([[0], cuts + 1, [len(ref_counts)]]))


def coarsen(counts: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Sum fine bins into the groups between EDGES."""
    return np.add.reduceat(counts, edges[:-1]) if len(counts) else counts


def psi(ref: np.ndarray, cur: np.ndarray) -> float:
    """Population Stability Index over matching bins (shares floored at EPS)."""
    r, c = np.maximum(_shares(ref), EPS), np.maximum(_shares(cur), EPS)
    return float(np.sum((c - r) * np.log(c / r)))


def jensen_shannon(ref: np.ndarray, cur: np.ndarray) -> float:
    """Jensen–Shannon distance (natural log) between the binned shares."""
    if ref.sum() == 0 or cur.sum() == 0:
        return float("nan")
    return float(distance.jensenshannon(_shares(ref), _shares(cur)))


def ks_pvalue(ref: np.ndarray, cur: np.ndarray) -> tuple[float, float]:
    """Two-sample Kolmogorov–Smirnov statistic over bin edges and its asymptotic p-value."""
    n, m = ref.sum(), cur.sum()
    if n == 0 or m == 0:
        return float("nan"), float("nan")
    d = float(np.max(np.abs(np.cumsum(ref) / n - np.cumsum(cur) / m)))
    en = np.sqrt(n * m / (n + m))
    return d, float(stats.kstwobign.sf(d * en)) if d > 0 else 1.0


def wasserstein_normed(
    ref: np.ndarray, ref_pos: np.ndarray, cur: np.ndarray, cur_pos: np.ndarray, scale: float
) -> float:
    """Earth mover's distance between the binned distributions, divided by the reference std."""
    if ref.sum() == 0 or cur.sum() == 0:
        return float("nan")
    value = stats.wasserstein_distance(ref_pos, cur_pos, ref, cur)
    return float(value / scale) if scale > 0 else float(value)


def chi_square_pvalue(ref: np.ndarray, cur: np.ndarray) -> tuple[float, float]:
    """Chi-square goodness of fit of the window's counts to the reference shares, and p-value."""
    keep = ref > 0
    other = cur[~keep].sum()
    expected = _shares(ref[keep]) * cur.sum()
    observed = cur[keep].astype(float)
    if other > 0:  # values never seen in the reference: one extra cell with a tiny expectation
        expected = np.append(expected * (1 - EPS), cur.sum() * EPS)
        observed = np.append(observed, other)
    if cur.sum() == 0 or len(observed) < 2:
        return float("nan"), float("nan")
    stat, p = stats.chisquare(observed, expected * observed.sum() / expected.sum())
    return float(stat), float(p)


METHODS: dict[str, Method] = {
    "ks": Method("ks", ("numeric",), 0.01, False, ks_pvalue),
    "psi": Method("psi", ("numeric", "categorical"), 0.2, True, psi),
    "jensen_shannon": Method(
        "jensen_shannon", ("numeric", "categorical"), 0.1, True, jensen_shannon
    ),
    "wasserstein": Method("wasserstein", ("numeric",), 0.1, True, wasserstein_normed),
    "chi_square": Method("chi_square", ("categorical",), 0.01, False, chi_square_pvalue),
}
DEFAULT_METHOD = {"numeric": "wasserstein", "categorical": "jensen_shannon"}


def methods_for(kind: str) -> list[Method]:
    """All methods that apply to a feature kind."""
    return [m for m in METHODS.values() if kind in m.kinds]
