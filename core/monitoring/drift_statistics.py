"""Drift statistics between a reference and a window, computed from binned counts.

Each method is registered by name and feature kind with a direction: a distance passes its
threshold above it, a test when its p-value falls below it. A distance has no fixed default
threshold (core.monitoring.drift_thresholds calibrates one on the reference) but a minimum
effect: the smallest value that matters however large the window. A test has a fixed default
significance level; a p-value says a difference is real, not that it matters, so a test that
decides a feature's verdict also needs its EFFECT distance past that distance's minimum effect.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

# scipy.special, not scipy.stats: importing scipy.stats costs about a second, longer than a
# drift report on the demo. kolmogorov and chdtrc are what kstwobign.sf and chi2.sf compute.
from scipy import special

from core.monitoring.histograms import NumericBins

EPS = 1e-4
COARSE_BINS = 10


@dataclass(frozen=True)
class Method:
    """A drift statistic: how to compute it, its direction, and its default bar.

    A distance (higher_is_drift) has MINIMUM_EFFECT and a calibrated threshold; a test has a
    fixed THRESHOLD (a significance level) and names the distance that measures its EFFECT.
    """

    name: str
    kinds: tuple[str, ...]
    higher_is_drift: bool
    compute: Callable[..., float | tuple[float, float]]  # a test: (statistic, p-value)
    threshold: float | None = None
    minimum_effect: float | None = None
    effect: str | None = None

    def passes(self, values: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
        """Whether each value is past its threshold on the drifting side (NaN never is)."""
        with np.errstate(invalid="ignore"):
            past = values > thresholds if self.higher_is_drift else values < thresholds
        return past & ~np.isnan(values)


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
    from scipy.spatial import distance

    return float(distance.jensenshannon(_shares(ref), _shares(cur)))


def ks_pvalue(ref: np.ndarray, cur: np.ndarray) -> tuple[float, float]:
    """Two-sample Kolmogorov–Smirnov statistic over bin edges and its asymptotic p-value."""
    n, m = ref.sum(), cur.sum()
    if n == 0 or m == 0:
        return float("nan"), float("nan")
    d = float(np.max(np.abs(np.cumsum(ref) / n - np.cumsum(cur) / m)))
    en = np.sqrt(n * m / (n + m))
    return d, float(special.kolmogorov(d * en)) if d > 0 else 1.0


def wasserstein_normed(
    ref: np.ndarray, ref_pos: np.ndarray, cur: np.ndarray, cur_pos: np.ndarray, scale: float
) -> float:
    """Earth mover's distance between the binned distributions, divided by the reference std."""
    if ref.sum() == 0 or cur.sum() == 0:
        return float("nan")
    from scipy import stats

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
    from scipy import stats

    stat, p = stats.chisquare(observed, expected * observed.sum() / expected.sum())
    return float(stat), float(p)


# Minimum effects, each about the smallest change worth a person's look whatever the window's
# size. Wasserstein is in reference standard deviations: 0.05 is a mean shift of a twentieth of
# one (a sustained shift of 0.085 must count). Jensen-Shannon 0.04 is a share moving about 5.7
# points between two equal categories, or a tenth of a standard deviation's shift on a numeric
# input (a categorical mix moving 3.8 points, JS 0.027, is trivia on a large window). PSI is
# about 8 x JS squared for small changes: 0.02 matches JS 0.05.
METHODS: dict[str, Method] = {
    "ks": Method("ks", ("numeric",), False, ks_pvalue, threshold=0.01, effect="wasserstein"),
    "psi": Method("psi", ("numeric", "categorical"), True, psi, minimum_effect=0.02),
    "jensen_shannon": Method(
        "jensen_shannon", ("numeric", "categorical"), True, jensen_shannon, minimum_effect=0.04
    ),
    "wasserstein": Method(
        "wasserstein", ("numeric",), True, wasserstein_normed, minimum_effect=0.05
    ),
    "chi_square": Method(
        "chi_square",
        ("categorical",),
        False,
        chi_square_pvalue,
        threshold=0.01,
        effect="jensen_shannon",
    ),
}
DEFAULT_METHOD = {"numeric": "wasserstein", "categorical": "jensen_shannon"}


def methods_for(kind: str) -> list[Method]:
    """All methods that apply to a feature kind."""
    return [m for m in METHODS.values() if kind in m.kinds]


# --------------------------------------------------------------------------------------------
# The same statistics for many windows at once: REF is the reference's counts, each row of CUR
# one window's; each function returns one value per row, equal to the function above applied
# to (REF, that row).


def _row_shares(counts: np.ndarray) -> np.ndarray:
    total = counts.sum(axis=-1, keepdims=True)
    return np.where(total > 0, counts / np.where(total > 0, total, 1.0), 0.0)


def psi_rows(ref: np.ndarray, cur: np.ndarray) -> np.ndarray:
    """psi(ref, row) for every row of CUR."""
    r, c = np.maximum(_row_shares(ref), EPS), np.maximum(_row_shares(cur), EPS)
    return np.sum((c - r) * np.log(c / r), axis=1)


def jensen_shannon_rows(ref: np.ndarray, cur: np.ndarray) -> np.ndarray:
    """jensen_shannon(ref, row) for every row of CUR."""
    out = np.full(len(cur), np.nan)
    ok = cur.sum(axis=1) > 0
    if ref.sum() > 0 and ok.any():
        ref_shares = np.broadcast_to(_row_shares(ref), cur[ok].shape)
        from scipy.spatial import distance

        out[ok] = distance.jensenshannon(ref_shares, _row_shares(cur[ok]), axis=1)
    return out


def ks_pvalue_rows(ref: np.ndarray, cur: np.ndarray) -> np.ndarray:
    """ks_pvalue(ref, row)[1] for every row of CUR."""
    n, m = ref.sum(), cur.sum(axis=1)
    out = np.full(len(cur), np.nan)
    ok = m > 0
    if n > 0 and ok.any():
        gap = np.abs(np.cumsum(ref) / n - np.cumsum(cur[ok], axis=1) / m[ok, None])
        d = np.max(gap, axis=1)
        en = np.sqrt(n * m[ok] / (n + m[ok]))
        out[ok] = np.where(d > 0, special.kolmogorov(d * en), 1.0)
    return out


# A window's values beyond the reference's binned range count at most this share of the range
# beyond its edge in the Wasserstein distance: a handful of absurd values (an age of 150, a
# typo of 1e9) would otherwise outweigh any real change; data quality reports them.
TAIL_REACH = 0.1


def within_reach(positions: np.ndarray, bins: NumericBins) -> np.ndarray:
    """POSITIONS (rows of bin positions) with the two tail bins' moved no further than
    TAIL_REACH of the binned range beyond its edges."""
    reach = TAIL_REACH * (bins.hi - bins.lo)
    out = positions.copy()
    out[:, 0] = np.maximum(out[:, 0], bins.lo - reach)
    out[:, -1] = np.minimum(out[:, -1], bins.hi + reach)
    return out


def wasserstein_normed_rows(
    ref: np.ndarray, ref_pos: np.ndarray, cur: np.ndarray, cur_pos: np.ndarray, scale: float
) -> np.ndarray:
    """wasserstein_normed(ref, ref_pos, row, row's positions, scale) for every row of CUR.

    In one dimension the earth mover's distance is the area between the two CDFs: with both
    samples' positions merged in order, the running difference of their weights times the gap
    to the next position (the integral scipy.stats.wasserstein_distance evaluates).
    """
    out = np.full(len(cur), np.nan)
    m = cur.sum(axis=1)
    ok = m > 0
    if ref.sum() == 0 or not ok.any():
        return out
    k = int(ok.sum())
    values = np.concatenate([np.broadcast_to(ref_pos, (k, len(ref_pos))), cur_pos[ok]], axis=1)
    weights = np.concatenate(
        [np.broadcast_to(ref / ref.sum(), (k, len(ref))), -cur[ok] / m[ok, None]], axis=1
    )
    order = np.argsort(values, axis=1, kind="stable")
    values = np.take_along_axis(values, order, axis=1)
    gap = np.cumsum(np.take_along_axis(weights, order, axis=1), axis=1)[:, :-1]
    dist = np.sum(np.abs(gap) * np.diff(values, axis=1), axis=1)
    out[ok] = dist / scale if scale > 0 else dist
    return out


def chi_square_pvalue_rows(ref: np.ndarray, cur: np.ndarray) -> np.ndarray:
    """chi_square_pvalue(ref, row)[1] for every row of CUR."""
    keep = ref > 0
    total = cur.sum(axis=1)
    other = cur[:, ~keep].sum(axis=1)
    observed = cur[:, keep].astype(float)
    unseen = other > 0  # rows with values the reference never had: one extra cell
    expected = np.outer(total, _row_shares(ref[keep]))
    expected[unseen] *= 1 - EPS
    extra_expected = np.where(unseen, total * EPS, 0.0)
    cells = keep.sum() + unseen
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = (observed.sum(axis=1) + other) / (expected.sum(axis=1) + extra_expected)
        f_exp = expected * scale[:, None]
        stat = np.sum((observed - f_exp) ** 2 / f_exp, axis=1)
        x_exp = extra_expected * scale
        stat += np.where(unseen, (other - x_exp) ** 2 / np.where(unseen, x_exp, 1.0), 0.0)
    out = np.full(len(cur), np.nan)
    ok = (total > 0) & (cells >= 2)
    out[ok] = special.chdtrc(cells[ok] - 1, stat[ok])
    return out
