"""Champion vs challenger in money, on the same labelled production decisions.

Both model files score the same recent labelled requests; each is valued at the business
case's threshold (a figure with its basis, core.value.figures) and at its own best threshold.
This is what a product owner compares, not AUC.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from core.errors import InvalidInput
from core.files.sources import quote_ident
from core.registry import features_of, get_model, get_version, scoring_class
from core.registry.artifacts import load_model, model_file, positive_scores
from core.store import Model, ModelVersion, Store, Work, log_tables
from core.value.business_case import BusinessCase, current
from core.value.figures import REALIZED, Basis, Figure
from core.value.kpi import (
    CURVE_BINS,
    cell_values,
    decisions_per_period,
    optimum,
    threshold_curve,
    value_band,
)
from core.words import PERIODS, money, points

SAMPLE = 20_000
_TS = "__logged_at"


def model_and_inputs(
    version: ModelVersion, sample: pd.DataFrame, *, to: str
) -> tuple[Any, pd.DataFrame]:
    """VERSION's model file, loaded and checked, and the columns of SAMPLE it reads; TO says
    what it is loaded for ('score', 'decide') in the message when it cannot be."""
    if not version.artifact_path:
        raise InvalidInput(f"v{version.version} has no model file to {to} the same requests")
    estimator = load_model(
        model_file(version.artifact_path, sha256=version.artifact_sha256),
        expected_sha256=version.artifact_sha256,
    )
    names = [f.name for f in features_of(version)]
    missing = [n for n in names if n not in sample]
    if missing:
        raise InvalidInput(f"v{version.version} needs inputs the logs lack: {', '.join(missing)}")
    return estimator, sample[names]


def labelled_sample(
    w: Work, *, model: Model, version: ModelVersion, limit: int = SAMPLE
) -> pd.DataFrame:
    """The most recent labelled requests logged under VERSION: features, outcome y and the
    time each was logged (column __logged_at)."""
    assert model.id is not None
    features = features_of(version)
    cols = ", ".join(f"p.{f.column} AS {quote_ident(f.name)}" for f in features)
    return w.frame(
        f"SELECT {cols}, l.y, p.ts AS {_TS} FROM {log_tables.pred_table(model.id)} p JOIN label l "
        "ON l.model_id = ? AND l.request_id = p.request_id WHERE p.version = ? "
        "ORDER BY p.ts DESC LIMIT ?",
        [model.id, version.version, int(limit)],
    )


@dataclass(frozen=True)
class Comparison:
    """Champion and challenger valued on the same labelled decisions (the same basis, but for
    the version that scored them), each also at its own best threshold."""

    champion: Figure
    challenger: Figure
    champion_optimum: tuple[float, float]
    challenger_optimum: tuple[float, float]

    @property
    def difference_per_period(self) -> float | None:
        """What the challenger would earn more (negative: less) per period."""
        a, b = self.champion.value_per_period, self.challenger.value_per_period
        return None if a is None or b is None else b - a

    def sentence(self) -> str:
        """'On the same 20,000 latest decisions with outcomes, v2 would earn 120 k EUR more per
        month than v1 at the current threshold.'"""
        basis = self.champion.basis
        diff = self.difference_per_period
        if diff is None:
            diff = float(self.challenger.value_per_decision or 0) - float(
                self.champion.value_per_decision or 0
            )
            per = "per decision"
        else:
            per = f"per {basis.per}"
        return (
            f"On the same {basis.with_outcomes:,} latest decisions with outcomes, "
            f"v{self.challenger.basis.version} would earn {money(abs(diff), basis.unit)} "
            f"{'more' if diff >= 0 else 'less'} {per} than v{basis.version} at the current "
            "threshold."
        )

    def table(self) -> pd.DataFrame:
        """One row per version, in words and money, for people."""
        unit, per = self.champion.basis.unit, self.champion.basis.per
        rows = []
        for role, figure, (best_t, best_v) in (
            ("champion", self.champion, self.champion_optimum),
            ("challenger", self.challenger, self.challenger_optimum),
        ):
            rows.append(
                {
                    "Role": role,
                    "Version": f"v{figure.basis.version}",
                    "Per decision": money(figure.value_per_decision, unit),
                    f"Per {per}": money(figure.value_per_period, unit),
                    "Best threshold": points(best_t),
                    f"Per {per} at the best threshold": money(
                        figure.at(best_v).value_per_period, unit
                    ),
                }
            )
        return pd.DataFrame(rows)


def _value(
    scores: np.ndarray, y: np.ndarray, case: BusinessCase
) -> tuple[dict[str, float], tuple[float, float]]:
    bins = np.clip((scores * CURVE_BINS).astype(int), 0, CURVE_BINS)
    pos = np.bincount(bins, weights=y, minlength=CURVE_BINS + 1)
    neg = np.bincount(bins, weights=1 - y, minlength=CURVE_BINS + 1)
    flagged = scores >= case["threshold"]
    cells = np.array(
        [
            np.sum(flagged & (y == 1)),
            np.sum(flagged & (y == 0)),
            np.sum(~flagged & (y == 0)),
            np.sum(~flagged & (y == 1)),
        ],
        dtype=float,
    )
    found = value_band("v", cells, cell_values(case), len(y))
    band = {k.removeprefix("v_"): v for k, v in found.items()}
    return band, optimum(threshold_curve(pos, neg, case))


def compare(store: Store, *, model: str, champion: int | None, challenger: int) -> Comparison:
    """Champion and challenger in money on the same labelled production decisions: the latest
    SAMPLE of the champion's decisions whose outcomes are in."""
    with store.open().read() as r:
        entry = get_model(r, name=model)
        if entry.task != "binary":
            raise InvalidInput("money comparison by threshold applies to binary models")
        live = get_version(r, model=entry, version=champion)
        other = get_version(r, model=entry, version=challenger)
        sample = labelled_sample(r, model=entry, version=live)
        volume, source = decisions_per_period(r, model=entry)
    if sample.empty:
        raise InvalidInput(f"no labelled production decisions for v{live.version} yet")
    case = current(entry)
    y = sample["y"].to_numpy(dtype=float)
    found = []
    for version in (live, other):
        estimator, inputs = model_and_inputs(version, sample, to="score")
        positive = scoring_class(entry, version)
        scores = np.asarray(positive_scores(estimator, inputs, positive), float)
        band, best = _value(scores, y, case)
        basis = Basis(
            model=entry.name,
            version=version.version,
            kind=REALIZED,
            period=None,
            start=sample[_TS].min(),
            end=sample[_TS].max(),
            decisions=len(y),
            with_outcomes=len(y),
            unit=case["unit"],
            per=PERIODS[case["period"]],
            decisions_per_period=volume,
            decisions_per_period_from=source,
            scored_by=None if version.version == live.version else version.version,
            latest=True,
        )
        found.append(
            (Figure(band["value_per_decision"], band["lower"], band["upper"], basis), best)
        )
    (champ, champ_best), (chall, chall_best) = found
    return Comparison(champ, chall, champ_best, chall_best)
