"""The counts the business value figures rest on, read from the logs or, on a team store,
from its per-day counts (core.value.value_days), which give the same numbers: labelled
decisions per threshold-curve bin, totals per side of the business case's threshold (binary)
or of the cost (regression), and per window, side and score bin.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from core.monitoring.performance import bin_sql, labelled_logs
from core.monitoring.windows import WindowSpec
from core.store import Model, ModelVersion, Work
from core.value import value_days
from core.value.business_case import BusinessCase, current

CURVE_BINS = 1000


def curve_counts(w: Work, *, model: Model, version: ModelVersion) -> tuple[np.ndarray, np.ndarray]:
    """Labelled positives and negatives per score bin: CURVE_BINS bins over [0, 1), then one
    for scores of 1, which a threshold of 1 still flags."""
    if value_days.counted(w, model=model, version=version, threshold=current(model)["threshold"]):
        return value_days.curve_counts(w, model=model, version=version, bins=CURVE_BINS)
    source, params = labelled_logs(model, version, WindowSpec.parse("M"))
    rows = w.rows(
        f"SELECT least(greatest(floor(score * {CURVE_BINS}), 0), {CURVE_BINS})::INTEGER, "
        f"sum(y), count(y) FROM {source} WHERE y IS NOT NULL GROUP BY 1",
        params,
    )
    pos, neg = np.zeros(CURVE_BINS + 1), np.zeros(CURVE_BINS + 1)
    for b, positives, labelled in rows:
        pos[b] += positives
        neg[b] += labelled - positives
    return pos, neg


def decision_overall(w: Work, *, model: Model, version: ModelVersion) -> tuple[Any, ...]:
    """Over every decision of a binary VERSION: decisions, labelled ones, the first and last
    labelled request, and true positives, false positives, true negatives and false negatives
    at the business case's threshold."""
    threshold = float(current(model)["threshold"])
    if value_days.counted(w, model=model, version=version, threshold=threshold):
        return value_days.decision_totals(w, model=model, version=version)
    source, params = labelled_logs(model, version, WindowSpec.parse("M"))
    n, labelled, first, last, *cells = w.rows(
        "SELECT count(*), count(y), min(ts) FILTER (WHERE y IS NOT NULL), "
        "max(ts) FILTER (WHERE y IS NOT NULL), "
        "count(*) FILTER (WHERE y = 1 AND score >= ?), "
        "count(*) FILTER (WHERE y = 0 AND score >= ?), "
        "count(*) FILTER (WHERE y = 0 AND score < ?), "
        f"count(*) FILTER (WHERE y = 1 AND score < ?) FROM {source}",
        [threshold] * 4 + params,
    )[0]
    return (int(n), int(labelled), first, last, *(float(c) for c in cells))


def regression_overall(w: Work, *, model: Model, version: ModelVersion) -> tuple[Any, ...]:
    """Over every decision of a regression VERSION: decisions, labelled ones, the first and
    last labelled request, the realized value per decision (minus the mean cost; None without
    outcomes) and the cost's standard deviation."""
    case = current(model)
    if value_days.counted(w, model=model, version=version):
        return value_days.error_totals(w, model=model, version=version, case=case)
    source, params = labelled_logs(model, version, WindowSpec.parse("M"))
    cost = regression_cost_sql(case)
    n, labelled, first, last, value, sd = w.rows(
        f"SELECT count(*), count(y), min(ts) FILTER (WHERE y IS NOT NULL), "
        f"max(ts) FILTER (WHERE y IS NOT NULL), -avg({cost}), stddev_samp({cost}) "
        f"FROM {source}",
        params,
    )[0]
    return int(n), int(labelled), first, last, value, sd


def regression_cost_sql(case: BusinessCase) -> str:
    """SQL of a regression decision's cost from its score and outcome y (NULL without one)."""
    under, over = float(case["cost_under"]), float(case["cost_over"])
    # NULL until the outcome arrives: greatest() skips NULLs and would call the decision free.
    return (
        f"(CASE WHEN y IS NOT NULL THEN {under!r} * greatest(y - score, 0) "
        f"+ {over!r} * greatest(score - y, 0) END)"
    )


def decision_windows(
    w: Work, *, model: Model, version: ModelVersion, spec: WindowSpec
) -> tuple[Any, Any]:
    """Per window: decisions and labelled ones; per window, side of the business case's
    threshold and score bin: n, score sum (s), labelled, positives and the labelled ones'
    score sum (s_labelled)."""
    case = current(model)
    if value_days.counted(w, model=model, version=version, threshold=case["threshold"]):
        return value_days.decision_windows(w, model=model, version=version, spec=spec)
    source, params = labelled_logs(model, version, spec)
    start, end = spec.bounds_sql()
    wins = w.frame(
        f"SELECT __w AS w, {start} AS window_start, {end} AS window_end, count(*) AS n, "
        f"count(y) AS n_labeled FROM {source} GROUP BY __w ORDER BY __w",
        params,
    )
    cells = w.frame(
        f"SELECT __w AS w, score >= ? AS side, {bin_sql('score')} AS bin, count(*) AS n, "
        f"sum(score) AS s, count(y) AS labelled, COALESCE(sum(y), 0) AS positives, "
        f"COALESCE(sum(CASE WHEN y IS NOT NULL THEN score END), 0) AS s_labelled "
        f"FROM {source} GROUP BY ALL",
        [float(case["threshold"]), *params],
    )
    return wins, cells
