"""Weighted isotonic regression of a few hundred binned points, in NumPy: the same numbers as
scikit-learn's IsotonicRegression(increasing=True, out_of_bounds="clip"), without importing
scikit-learn and SciPy's optimizer (about 1.5 CPU-s before `performance` or `kpi` could answer).

Each step follows its counterpart operation for operation, so the floating-point results are
identical (tests/monitoring/test_isotonic.py compares them bit for bit): scikit-learn's
`_make_unique` (ties averaged), SciPy's PAVA (Busing 2022, Algorithm 1, as in
scipy/optimize/_pava), the clip to [y_min, y_max], the trimming of redundant points, and
`np.interp`, which scikit-learn's interp1d delegates to.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

_TIE = float(np.finfo(np.float64).resolution)  # scikit-learn's distance for equal x


def _unique(
    x: np.ndarray, y: np.ndarray, w: np.ndarray
) -> tuple[list[float], list[float], list[float]]:
    """Sorted X with ties merged: each tie's weighted mean of Y and summed weight."""
    xs, ys, ws = [], [], []
    current_x, current_y, current_w = float(x[0]), 0.0, 0.0
    for xj, yj, wj in zip(x.tolist(), y.tolist(), w.tolist(), strict=True):
        if xj - current_x >= _TIE:
            xs.append(current_x)
            ws.append(current_w)
            ys.append(current_y / current_w)
            current_x, current_w, current_y = xj, wj, yj * wj
        else:
            current_w += wj
            current_y += yj * wj
    xs.append(current_x)
    ws.append(current_w)
    ys.append(current_y / current_w)
    return xs, ys, ws


def _pava(x: list[float], w: list[float]) -> list[float]:
    """The non-decreasing sequence closest to X in weighted least squares."""
    n = len(x)
    r = [0] * (n + 1)
    r[1] = 1
    b = 0
    xb_prev, wb_prev = x[0], w[0]
    i = 1
    while i < n:
        b += 1
        xb, wb = x[i], w[i]
        if xb_prev >= xb:
            b -= 1
            sb = wb_prev * xb_prev + wb * xb
            wb += wb_prev
            xb = sb / wb
            while i < n - 1 and xb >= x[i + 1]:
                i += 1
                sb += w[i] * x[i]
                wb += w[i]
                xb = sb / wb
            while b > 0 and x[b - 1] >= xb:
                b -= 1
                sb += w[b] * x[b]
                wb += w[b]
                xb = sb / wb
        x[b] = xb_prev = xb
        w[b] = wb_prev = wb
        r[b + 1] = i + 1
        i += 1
    out = list(x)
    f = n - 1
    for k in range(b, -1, -1):
        for j in range(f, r[k] - 1, -1):
            out[j] = x[k]
        f = r[k] - 1
    return out


def isotonic_points(
    x: np.ndarray, y: np.ndarray, weight: np.ndarray, *, y_min: float, y_max: float
) -> tuple[np.ndarray, np.ndarray]:
    """The breakpoints (X, fitted Y) of the non-decreasing map from X to Y fitted with WEIGHT,
    bounded by Y_MIN and Y_MAX; the map is linear between them and flat beyond."""
    keep = weight > 0
    x, y, weight = (np.asarray(a, dtype=np.float64)[keep] for a in (x, y, weight))
    order = np.lexsort((y, x))
    xs, ys, ws = _unique(x[order], y[order], weight[order])
    fitted = np.clip(np.array(_pava(ys, ws)), y_min, y_max)
    points = np.array(xs)
    needed = np.ones(len(fitted), dtype=bool)
    needed[1:-1] = (fitted[1:-1] != fitted[:-2]) | (fitted[1:-1] != fitted[2:])
    return points[needed], fitted[needed]


def isotonic_fit(
    x: np.ndarray, y: np.ndarray, weight: np.ndarray, *, y_min: float, y_max: float
) -> Callable[[np.ndarray], np.ndarray]:
    """The non-decreasing map from X to Y fitted with WEIGHT, bounded by Y_MIN and Y_MAX;
    inputs outside the fitted X are clipped to its ends."""
    points, fitted = isotonic_points(x, y, weight, y_min=y_min, y_max=y_max)
    low, high = points[0], points[-1]
    return lambda t: np.interp(np.clip(np.asarray(t, dtype=np.float64), low, high), points, fitted)
