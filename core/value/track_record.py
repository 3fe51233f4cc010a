"""Label-free estimates held to account against the outcomes that arrived later.

For every period whose outcomes measure its value closely enough (kpi.enough_outcomes), the
estimate made from the scores through the reference calibration, over the same decisions whose
outcomes are in, is set against the value those outcomes measured. The estimate missed when

    |measured - estimated| > Z * sqrt(se_estimate² + se_measured² + se_reference²)

that is, when the measured value lies outside the estimate's band widened by the measured
value's own band and by the calibration's: the calibration was learnt on the reference rows,
so the estimate cannot be surer than the reference's value (its standard error). The estimate
is unreliable while the latest periods that could be judged missed: then the outcomes no
longer follow the scores, and so the inputs, as they did in training (concept drift).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

import pandas as pd

from core.store import Model, ModelVersion
from core.value import kpi
from core.value.business_case import current
from core.words import money, period_words

if TYPE_CHECKING:
    from core.value.figures import Figure

RELIABLE, UNRELIABLE, UNTESTED, NOT_ESTIMATED = "reliable", "unreliable", "untested", "none"
REASON = (
    "the outcomes no longer follow the inputs as they did in training (concept drift), so "
    "scores no longer say what a decision will earn"
)


@dataclass(frozen=True)
class Check:
    """One period with enough outcomes: the estimate for its decisions with outcomes, what
    those outcomes measured, and how far apart the two may be by chance (TOLERANCE)."""

    start: datetime
    end: datetime
    period: str
    decisions: int
    with_outcomes: int
    estimated: float
    measured: float
    tolerance: float

    @property
    def missed(self) -> bool:
        """Whether the measured value lies outside the estimate's widened band."""
        return abs(self.estimated - self.measured) > self.tolerance

    @property
    def when(self) -> str:
        """The period in words ('Jul 2026')."""
        return period_words(self.start, self.end, self.period)

    def words(self, unit: str) -> str:
        """'in Jul 2026 it said 73 EUR per decision and outcomes measured 22 EUR, 3.3× too
        high'."""
        gap = self.estimated - self.measured
        said = (
            f"in {self.when} it said {money(self.estimated, unit)} per decision and outcomes "
            f"measured {money(self.measured, unit)}"
        )
        if self.estimated > 0 and self.measured > 0 and gap > 0:
            return said + f", {self.estimated / self.measured:.1f}× too high"
        return said + f", {money(abs(gap), unit)} too {'high' if gap > 0 else 'low'}"


@dataclass(frozen=True)
class TrackRecord:
    """How the label-free estimate of one version fared in every period it could be checked
    in, oldest first; MISSES are the latest consecutive misses (what makes it unreliable)."""

    model: str
    version: int
    unit: str
    status: str
    checks: tuple[Check, ...]
    misses: tuple[Check, ...]

    def sentence(self) -> str:
        """The verdict in words, for the Overview and the Business value page."""
        if self.status == NOT_ESTIMATED:
            return "No label-free estimate is made for this model."
        if self.status == UNTESTED:
            return (
                "The estimate has not been checked against outcomes yet: no period has "
                "enough of them."
            )
        if self.status == RELIABLE:
            earlier = sum(c.missed for c in self.checks)
            return f"The estimate held when outcomes last checked it ({self.checks[-1].when})" + (
                f"; it missed in {earlier} of the {len(self.checks) - 1} periods before."
                if earlier
                else "."
            )
        periods = " and ".join(c.when for c in self.misses)
        latest = self.misses[-1].words(self.unit)
        return (
            f"The estimate from the scores is unreliable: in {periods} it missed what the "
            f"outcomes measured by more than its margin of error: {latest}. "
            f"Likely reason: {REASON}."
        )

    def table(self) -> pd.DataFrame:
        """One row per checked period, in words and money, for people."""
        return pd.DataFrame(
            {
                "Period": [c.when for c in self.checks],
                "Decisions with outcomes": [f"{c.with_outcomes:,}" for c in self.checks],
                "Estimated per decision": [money(c.estimated, self.unit) for c in self.checks],
                "Measured per decision": [money(c.measured, self.unit) for c in self.checks],
                "Margin of error": [f"± {money(c.tolerance, self.unit)}" for c in self.checks],
                "Estimate": ["missed" if c.missed else "held" for c in self.checks],
            }
        )


def _se(lower: float | None, upper: float | None) -> float:
    if lower is None or upper is None or pd.isna(lower) or pd.isna(upper):
        return 0.0
    return (float(upper) - float(lower)) / (2 * kpi.Z)


def judge(
    model: Model, version: ModelVersion, windows: pd.DataFrame, reference: Figure
) -> TrackRecord:
    """The track record of VERSION's estimate over kpi.by_window's WINDOWS (the business
    case's periods), its calibration's uncertainty taken from the REFERENCE figure."""
    case = current(model)
    unit = case["unit"]
    if model.task == "regression" or reference.value_per_decision is None:
        return TrackRecord(model.name, version.version, unit, NOT_ESTIMATED, (), ())
    calibration = _se(reference.lower, reference.upper)
    checks = []
    for row in windows.to_dict(orient="records"):
        if not row["measured"] or pd.isna(row["checked_estimate_value_per_decision"]):
            continue
        spread = math.sqrt(
            _se(row["checked_estimate_lower"], row["checked_estimate_upper"]) ** 2
            + _se(row["realized_lower"], row["realized_upper"]) ** 2
            + calibration**2
        )
        checks.append(
            Check(
                start=row["window_start"],
                end=row["window_end"],
                period=case["period"],
                decisions=int(row["n"]),
                with_outcomes=int(row["n_labeled"]),
                estimated=float(row["checked_estimate_value_per_decision"]),
                measured=float(row["realized_value_per_decision"]),
                tolerance=kpi.Z * spread,
            )
        )
    misses: list[Check] = []
    for check in reversed(checks):
        if not check.missed:
            break
        misses.insert(0, check)
    status = UNTESTED if not checks else UNRELIABLE if misses else RELIABLE
    return TrackRecord(model.name, version.version, unit, status, tuple(checks), tuple(misses))
