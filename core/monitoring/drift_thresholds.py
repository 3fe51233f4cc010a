"""Drift thresholds calibrated on the reference, and the one verdict per feature and window.

A distance's usual range at a window of m rows is how much it varies between two samples drawn
from the reference itself: a reference-sized one and an m-row one (both resampled from the
reference's binned counts, so the work is on a few hundred counts, never on rows). The range
runs between the 0.01% and 99.99% points of a gamma distribution fitted (by its mean and
variance) to REPLICATES such draws, computed at a few SIZES and interpolated for the window's
size. The threshold is the top of that range or the
method's minimum effect, whichever is higher: small windows need a large distance to tell
drift from noise, huge windows must not alarm on trivia. A fixed threshold in the model's
settings replaces both. Draws are seeded from the feature's name, so the same reference gives
the same calibration in every process; it is stored with the version (Calibration.to_json).
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Any

import numpy as np

from core.monitoring.drift_statistics import EPS, Method

FORMAT = 1
SIZES = (100, 1_000, 10_000, 100_000, 1_000_000)
REPLICATES = 200
# Every feature in every window is its own test: a false alarm per decision of about 1 in
# 10,000. Distances of small windows are skewed: mean plus k standard deviations misses their
# tail, a gamma fitted to the draws follows it (checked against 20,000 direct draws).
TAIL = 1e-4
CALIBRATED = ("wasserstein", "jensen_shannon", "psi")
# How each distance shrinks with the sizes: PSI like 1/n + 1/m, the others like its root.
_POWER = {"psi": 1.0, "wasserstein": 0.5, "jensen_shannon": 0.5}


@dataclass(frozen=True)
class Calibration:
    """Per feature and distance, the usual range (low, high) at each of SIZES rows."""

    reference_rows: int
    ranges: dict[str, dict[str, tuple[list[float], list[float]]]]

    def usual(self, feature: str, method: str, sizes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The usual range of METHOD on FEATURE at windows of SIZES rows (NaN if uncalibrated)."""
        found = self.ranges.get(feature, {}).get(method)
        if found is None:
            nan = np.full(len(sizes), np.nan)
            return nan, nan.copy()
        m = np.maximum(np.asarray(sizes, dtype=float), 1.0)
        n = max(self.reference_rows, 1)
        power = _POWER[method]
        # Interpolate the range divided by its expected scale (flat where the sizes run out).
        scale = (1 / n + 1 / m) ** power
        grid_scale = (1 / n + 1 / np.asarray(SIZES, dtype=float)) ** power
        x, grid = np.log(m), np.log(np.asarray(SIZES, dtype=float))
        low = np.interp(x, grid, np.asarray(found[0]) / grid_scale) * scale
        high = np.interp(x, grid, np.asarray(found[1]) / grid_scale) * scale
        return low, high

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready form (stored in the version's feature_schema)."""
        return {
            "format": FORMAT,
            "sizes": list(SIZES),
            "replicates": REPLICATES,
            "tail": TAIL,
            "reference_rows": self.reference_rows,
            "ranges": {
                f: {m: [list(lo), list(hi)] for m, (lo, hi) in methods.items()}
                for f, methods in self.ranges.items()
            },
        }

    @classmethod
    def from_json(cls, raw: Any) -> Calibration | None:
        """The stored calibration, or None when absent or made by another recipe."""
        if not isinstance(raw, dict) or raw.get("format") != FORMAT:
            return None
        if raw.get("sizes") != list(SIZES) or raw.get("replicates") != REPLICATES:
            return None
        if raw.get("tail") != TAIL:
            return None
        ranges = {
            f: {m: (list(lo), list(hi)) for m, (lo, hi) in methods.items()}
            for f, methods in raw["ranges"].items()
        }
        return cls(int(raw["reference_rows"]), ranges)


def _rng(feature: str) -> np.random.Generator:
    return np.random.default_rng([FORMAT, zlib.crc32(feature.encode())])


def _shares(counts: np.ndarray) -> np.ndarray:
    total = counts.sum(axis=-1, keepdims=True)
    return counts / np.where(total > 0, total, 1.0)


def _psi(ref: np.ndarray, cur: np.ndarray) -> np.ndarray:
    r, c = np.maximum(_shares(ref), EPS), np.maximum(_shares(cur), EPS)
    return np.sum((c - r) * np.log(c / r), axis=-1)


def _jensen_shannon(ref: np.ndarray, cur: np.ndarray) -> np.ndarray:
    p, q = _shares(ref), _shares(cur)
    mid = (p + q) / 2
    with np.errstate(divide="ignore", invalid="ignore"):
        kl_p = np.where(p > 0, p * np.log(p / mid), 0.0).sum(axis=-1)
        kl_q = np.where(q > 0, q * np.log(q / mid), 0.0).sum(axis=-1)
    return np.sqrt(np.maximum((kl_p + kl_q) / 2, 0.0))


def _wasserstein(ref: np.ndarray, cur: np.ndarray, gaps: np.ndarray, scale: float) -> np.ndarray:
    gap = np.abs(np.cumsum(_shares(ref), axis=-1) - np.cumsum(_shares(cur), axis=-1))[..., :-1]
    dist = gap @ gaps
    return dist / scale if scale > 0 else dist


def _band(values: np.ndarray) -> tuple[float, float]:
    mean, var = float(values.mean()), float(values.var())
    if mean <= 0 or var <= 0:
        return mean, mean
    shape, scale = mean * mean / var, var / mean
    from scipy import stats  # on use: a drift report reads thresholds, only calibration fits them

    low, high = np.asarray(stats.gamma.ppf([TAIL, 1 - TAIL], shape, scale=scale), dtype=float)
    return float(low), float(high)


def _draws(rng: np.random.Generator, counts: np.ndarray, size: int) -> np.ndarray:
    return rng.multinomial(size, _shares(counts), size=REPLICATES).astype(float)


def numeric_ranges(
    feature: str,
    *,
    fine: np.ndarray,
    positions: np.ndarray,
    missing: float,
    edges: np.ndarray,
    scale: float,
) -> dict[str, tuple[list[float], list[float]]]:
    """Usual ranges of a numeric feature's distances at SIZES, from its reference's fine bins."""
    n = int(round(fine.sum() + missing))
    if n == 0:
        return {}
    rng = _rng(feature)
    order = np.argsort(positions, kind="stable")
    cells = np.append(fine[order], missing)
    gaps = np.diff(positions[order])
    back = np.argsort(order, kind="stable")  # sorted cells back to bin order, for coarse groups
    out: dict[str, tuple[list[float], list[float]]] = {m: ([], []) for m in CALIBRATED}
    ref = _draws(rng, cells, n)  # one set of reference-sized draws serves every size
    ref_coarse = _coarse(ref, back, edges)
    for size in SIZES:
        cur = _draws(rng, cells, size)
        values = {"wasserstein": _wasserstein(ref[:, :-1], cur[:, :-1], gaps, scale)}
        cur_coarse = _coarse(cur, back, edges)
        values["psi"] = _psi(ref_coarse, cur_coarse)
        values["jensen_shannon"] = _jensen_shannon(ref_coarse, cur_coarse)
        for method, got in values.items():
            low, high = _band(got)
            out[method][0].append(low)
            out[method][1].append(high)
    return out


def _coarse(draws: np.ndarray, back: np.ndarray, edges: np.ndarray) -> np.ndarray:
    fine = draws[:, :-1][:, back]
    return np.concatenate([np.add.reduceat(fine, edges[:-1], axis=1), draws[:, -1:]], axis=1)


def categorical_ranges(
    feature: str, *, counts: np.ndarray
) -> dict[str, tuple[list[float], list[float]]]:
    """Usual ranges of a categorical feature's distances at SIZES, from its reference counts."""
    n = int(round(counts.sum()))
    if n == 0:
        return {}
    rng = _rng(feature)
    out: dict[str, tuple[list[float], list[float]]] = {
        m: ([], []) for m in ("jensen_shannon", "psi")
    }
    ref = _draws(rng, counts, n)
    for size in SIZES:
        cur = _draws(rng, counts, size)
        for method, got in (("psi", _psi(ref, cur)), ("jensen_shannon", _jensen_shannon(ref, cur))):
            low, high = _band(got)
            out[method][0].append(low)
            out[method][1].append(high)
    return out


@dataclass(frozen=True)
class Bar:
    """One method's threshold per window, where it comes from, and its usual range."""

    threshold: np.ndarray
    low: np.ndarray
    high: np.ndarray
    minimum_effect: float
    fixed: str | None  # the setting that fixed the threshold, if one did


def bar(
    method: Method,
    *,
    usual: tuple[np.ndarray, np.ndarray],
    minimum_effect: float | None,
    fixed: tuple[float, str] | None,
) -> Bar:
    """METHOD's threshold per window: a fixed setting, else the usual range's top or the
    minimum effect, whichever is higher (tests: their significance level)."""
    low, high = usual
    effect = np.nan if minimum_effect is None else float(minimum_effect)
    if fixed is not None:
        return Bar(np.full(len(low), fixed[0]), low, high, effect, fixed[1])
    if not method.higher_is_drift:
        return Bar(np.full(len(low), float(method.threshold or 0.0)), low, high, effect, None)
    return Bar(np.fmax(high, effect), low, high, effect, None)


def number_text(x: float) -> str:
    """A drift value as the rules write it: 2 significant digits under 0.01, else 3 decimals."""
    return f"{x:.2g}" if abs(x) < 0.01 else f"{x:.3f}".rstrip("0").rstrip(".") or "0"


def rule_of_distance(name: str, value: float, b: Bar, i: int) -> str:
    """Why a distance decided its feature's verdict in window I, in words."""
    if np.isnan(value):
        return f"{name}: no rows to compare"
    said = f"{name} {number_text(value)}"
    if b.fixed is not None:
        side = "above" if value > b.threshold[i] else "within"
        return f"{said} {side} the fixed threshold {number_text(b.threshold[i])} ({b.fixed})"
    rng = f"its usual range {number_text(b.low[i])}–{number_text(b.high[i])}"
    effect = f"the minimum effect {number_text(b.minimum_effect)}"
    above_range, above_effect = value > b.high[i], value > b.minimum_effect
    if above_range and above_effect:
        return f"{said} above {rng} and above {effect}"
    if above_range:
        return f"{said} above {rng} but below {effect}"
    if above_effect:
        return f"{said} above {effect} but within {rng}"
    return f"{said} within {rng}"


def rule_of_test(
    name: str, p_value: float, b: Bar, i: int, effect_name: str, effect: float, e: Bar
) -> str:
    """Why a test decided its feature's verdict in window I: significance and effect."""
    if np.isnan(p_value):
        return f"{name}: no rows to compare"
    side = "below" if p_value < b.threshold[i] else "not below"
    where = f" ({b.fixed})" if b.fixed else ""
    said = f"{name} p-value {p_value:.2g} {side} {number_text(b.threshold[i])}{where}"
    if np.isnan(effect):
        return f"{said}; {effect_name}: no rows to compare"
    size = "above" if effect > e.minimum_effect else "below"
    bar_text = f"the minimum effect {number_text(e.minimum_effect)}"
    return f"{said}, and {effect_name} {number_text(effect)} {size} {bar_text}"
