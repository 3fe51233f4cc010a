"""Every money figure a person sees, each from one function here and each with its basis.

A figure is a value per decision with its band and, through the one volume of
kpi.decisions_per_period, a value per period. Its basis says which version, which period
(or the reference), how many decisions and how many with outcomes, whether it was measured,
estimated from the scores or measured on the reference, the currency and where the decisions
per period come from. Pages, the model card, the release gate and the CLI only format these.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from core.monitoring.windows import WindowSpec
from core.store import Model, ModelVersion, Work
from core.value import kpi
from core.value.business_case import current, values_set
from core.value.track_record import UNRELIABLE, TrackRecord, judge
from core.words import PERIODS, money, period_words

REALIZED, ESTIMATED, REFERENCE = "realized", "estimated", "reference"
_FROM = {
    kpi.BUSINESS_CASE_VOLUME: "the business case's volume",
    kpi.LOGGED_AVERAGE: "the average logged per {per}",
}


@dataclass(frozen=True)
class Basis:
    """What a money figure stands on. PERIOD is D/W/M for a calendar window of that size, or
    None for any other span (START to END) or the reference (no dates). SCORED_BY names another
    version whose model file scored the same decisions again; LATEST marks the most recent
    decisions with outcomes (a sample) rather than all of a period's."""

    model: str
    version: int
    kind: str
    period: str | None
    start: datetime | None
    end: datetime | None
    decisions: int
    with_outcomes: int
    unit: str
    per: str
    decisions_per_period: float | None
    decisions_per_period_from: str | None
    scored_by: int | None = None
    latest: bool = False

    @property
    def when(self) -> str:
        """The period in words: 'Jul 2026', 'the week of 13 Jul 2026', '1 May 2026 to …'."""
        if self.start is None:
            return "the reference (training/validation data)"
        return period_words(self.start, self.end, self.period)

    def words(self) -> str:
        """The basis in one sentence, e.g. 'Measured on 16,031 of 52,074 decisions of v1 in
        Jul 2026 with outcomes, EUR; per month at 50,000 decisions (the business case's
        volume).'"""
        when = f"in {self.when}" if self.period else f"from {self.when}"
        if self.kind == REFERENCE:
            said = (
                f"Measured on the {self.with_outcomes:,} reference rows of v{self.version} "
                "with outcomes (training/validation data)"
            )
        elif self.kind == ESTIMATED:
            so_far = (
                f", {self.with_outcomes:,} with outcomes so far"
                if self.with_outcomes
                else ", no outcomes yet"
            )
            said = (
                f"Estimated from the scores of {self.decisions:,} decisions of v{self.version} "
                f"{when}{so_far}"
            )
        elif self.latest:
            said = (
                f"Measured on the {self.with_outcomes:,} latest decisions of v{self.version} "
                f"with outcomes, {when}"
            )
        else:
            said = (
                f"Measured on {self.with_outcomes:,} of {self.decisions:,} decisions of "
                f"v{self.version} {when} with outcomes"
            )
        if self.scored_by is not None:
            said += f", scored again by v{self.scored_by}"
        said += f", {self.unit}" if self.unit else ""
        if self.decisions_per_period is None:
            return said + f"; no volume per {self.per} is known."
        source = _FROM.get(self.decisions_per_period_from or "", "{per}").format(per=self.per)
        return f"{said}; per {self.per} at {self.decisions_per_period:,.0f} decisions ({source})."


@dataclass(frozen=True)
class Figure:
    """A value per decision with its band (None when unknown) and its basis."""

    value_per_decision: float | None
    lower: float | None
    upper: float | None
    basis: Basis

    def _per_period(self, value: float | None) -> float | None:
        volume = self.basis.decisions_per_period
        return None if value is None or volume is None else value * volume

    @property
    def value_per_period(self) -> float | None:
        """The value per decision times the decisions per period (None if either is unknown)."""
        return self._per_period(self.value_per_decision)

    @property
    def lower_per_period(self) -> float | None:
        """The band's lower end per period."""
        return self._per_period(self.lower)

    @property
    def upper_per_period(self) -> float | None:
        """The band's upper end per period."""
        return self._per_period(self.upper)

    def at(self, value_per_decision: float) -> Figure:
        """The same basis with another value per decision (another threshold), no band."""
        return replace(self, value_per_decision=value_per_decision, lower=None, upper=None)

    def per_period_words(self) -> str:
        """'1.10 M EUR per month (likely 0.58 M EUR to 1.62 M EUR)', or the per-decision value
        when no volume is known."""
        unit, per = self.basis.unit, self.basis.per
        if self.value_per_period is None:
            return f"{money(self.value_per_decision, unit)} per decision"
        said = f"{money(self.value_per_period, unit)} per {per}"
        if self.lower is not None and self.upper is not None:
            said += (
                f" (likely {money(self.lower_per_period, unit)} to "
                f"{money(self.upper_per_period, unit)})"
            )
        return said

    def record(self) -> dict[str, Any]:
        """The figure and its basis as plain values for JSON, with the basis in words."""
        basis = asdict(self.basis)
        for key in ("start", "end"):
            basis[key] = None if basis[key] is None else pd.Timestamp(basis[key]).isoformat()
        return {
            "value_per_decision": self.value_per_decision,
            "lower": self.lower,
            "upper": self.upper,
            "value_per_period": self.value_per_period,
            **basis,
            "basis": self.basis.words(),
        }


def _basis(
    w: Work,
    model: Model,
    version: ModelVersion,
    kind: str,
    volume: tuple[float | None, str | None] | None = None,
    **fields: Any,
) -> Basis:
    """A basis of KIND; VOLUME: kpi.decisions_per_period when the caller already has it."""
    case = current(model)
    count, source = volume or kpi.decisions_per_period(w, model=model)
    return Basis(
        model=model.name,
        version=version.version,
        kind=kind,
        unit=case["unit"],
        per=PERIODS[case["period"]],
        decisions_per_period=count,
        decisions_per_period_from=source,
        **fields,
    )


def _number(value: Any) -> float | None:
    return None if value is None or pd.isna(value) else float(value)


def reference(w: Work, *, model: Model, version: ModelVersion) -> Figure:
    """Value on the version's labelled reference rows (kpi.on_reference) at the threshold."""
    found = kpi.on_reference(w, model=model, version=version)
    basis = _basis(
        w, model, version, REFERENCE, period=None, start=None, end=None,
        decisions=found.n_labeled, with_outcomes=found.n_labeled,
    )  # fmt: skip
    return Figure(found.value_per_decision, found.lower, found.upper, basis)


def realized_overall(w: Work, *, model: Model, version: ModelVersion) -> Figure:
    """Value per decision over every logged decision of the version whose outcome is in."""
    case = current(model)
    if model.task == "regression":
        n, labelled, first, last, mean, sd = kpi.regression_overall(w, model=model, version=version)
        se = (sd or 0.0) / np.sqrt(max(labelled, 1))
        band = {
            "value_per_decision": mean,
            "lower": None if mean is None else mean - kpi.Z * se,
            "upper": None if mean is None else mean + kpi.Z * se,
        }
    else:
        n, labelled, first, last, *cells = kpi.decision_overall(w, model=model, version=version)
        found = kpi.value_band("all", np.array(cells), kpi.cell_values(case), labelled)
        band = {k.removeprefix("all_"): v for k, v in found.items()}
    basis = _basis(
        w, model, version, REALIZED, period=None, start=first, end=last, decisions=int(n),
        with_outcomes=int(labelled),
    )  # fmt: skip
    return Figure(_number(band["value_per_decision"]), band["lower"], band["upper"], basis)


@dataclass(frozen=True)
class PeriodFigures:
    """One period of the business case: its measured figure (None without enough outcomes)
    and its estimate (None for regression models or a reference without outcomes)."""

    realized: Figure | None
    estimated: Figure | None

    @property
    def shown(self) -> Figure | None:
        """Measured where enough outcomes are in, else estimated."""
        return self.realized or self.estimated


def by_period(
    w: Work, *, model: Model, version: ModelVersion, windows: pd.DataFrame | None = None
) -> list[PeriodFigures]:
    """Per period of the business case (oldest first), from kpi.by_window's WINDOWS in that
    period when the caller already has them."""
    case = current(model)
    if windows is None:
        spec = WindowSpec.parse(case["period"])
        windows = kpi.by_window(w, model=model, version=version, spec=spec)
    volume = kpi.decisions_per_period(w, model=model)
    out = []
    for row in windows.to_dict(orient="records"):
        fields = dict(
            period=case["period"], start=row["window_start"], end=row["window_end"],
            decisions=int(row["n"]), with_outcomes=int(row["n_labeled"]),
        )  # fmt: skip
        realized = None
        if row["measured"]:
            realized = Figure(
                _number(row["realized_value_per_decision"]),
                _number(row["realized_lower"]),
                _number(row["realized_upper"]),
                _basis(w, model, version, REALIZED, volume, **fields),
            )
        estimated = None
        if _number(row["estimated_value_per_decision"]) is not None:
            estimated = Figure(
                _number(row["estimated_value_per_decision"]),
                _number(row["estimated_lower"]),
                _number(row["estimated_upper"]),
                _basis(w, model, version, ESTIMATED, volume, **fields),
            )
        out.append(PeriodFigures(realized, estimated))
    return out


@dataclass(frozen=True)
class Headline:
    """What the Overview leads with: FIGURE (the latest period measured, else its estimate when
    the estimate has held; the latest measured period when it has not), the latest period's
    ESTIMATE, the estimate's TRACK record and the SENTENCE saying which and why."""

    figure: Figure | None
    estimate: Figure | None
    track: TrackRecord
    current: bool
    sentence: str

    @property
    def label(self) -> str:
        """The headline figure's name: 'Jul 2026, measured' or 'Aug 2026, estimated'."""
        if self.figure is None:
            return ""
        kind = "estimated" if self.figure.basis.kind == ESTIMATED else "measured"
        return f"{self.figure.basis.when[:1].upper()}{self.figure.basis.when[1:]}, {kind}"


def headline(
    w: Work, *, model: Model, version: ModelVersion, windows: pd.DataFrame | None = None
) -> Headline:
    """The latest period's value with its basis; an estimate that missed in the latest
    periods it could be checked in is not shown as fact (core.value.track_record). WINDOWS:
    kpi.by_window in the business case's period, when the caller already has them."""
    case = current(model)
    if windows is None:
        spec = WindowSpec.parse(case["period"])
        windows = kpi.by_window(w, model=model, version=version, spec=spec)
    periods = by_period(w, model=model, version=version, windows=windows)
    track = judge(model, version, windows, reference(w, model=model, version=version))
    if not periods:
        return Headline(None, None, track, False, "No decisions have been logged yet.")
    last = periods[-1]
    measured = [p.realized for p in periods if p.realized is not None]
    latest = measured[-1] if measured else None
    if last.realized is not None:
        return Headline(last.realized, last.estimated, track, True, "")
    if last.estimated is None:
        when = period_words(windows["window_start"].iloc[-1], None, case["period"])
        said = f"The outcomes of {when} are not in yet; without them the value of " + (
            "a regression model's decisions cannot be estimated."
            if model.task == "regression"
            else "its decisions cannot be estimated, as the reference has no outcomes."
        )
        return Headline(latest, None, track, False, said)
    if track.status != UNRELIABLE:
        return Headline(last.estimated, last.estimated, track, True, track.sentence())
    return Headline(latest, last.estimated, track, False, track.sentence())


def track_record(w: Work, *, model: Model, version: ModelVersion) -> TrackRecord:
    """How the version's label-free estimate fared in every period outcomes could check it."""
    case = current(model)
    windows = kpi.by_window(w, model=model, version=version, spec=WindowSpec.parse(case["period"]))
    return judge(model, version, windows, reference(w, model=model, version=version))


@dataclass(frozen=True)
class FirstVersion:
    """What a version earns with nothing live to set it against: its REFERENCE figure and the
    HEADLINE of the decisions it has logged itself (no figure when it has logged none); both
    None when no business case says what a decision is worth."""

    reference: Figure | None
    latest: Headline | None

    def sentence(self) -> str:
        """Both figures with their bases in words, for the release gate and the card."""
        said = "Nothing is live yet to compare with"
        if self.reference is None or self.latest is None:
            return f"{said}, and no business case says what a decision is worth."
        if self.reference.value_per_decision is None:
            said += ". On its reference: not measured, the reference has no outcomes."
        else:
            said += (
                f". On its reference: {self.reference.per_period_words()}. "
                f"{self.reference.basis.words()}"
            )
        top = self.latest
        if top.figure is None:
            return f"{said} {top.sentence or 'It has logged no decisions yet.'}"
        return (
            f"{said} {top.label}: {top.figure.per_period_words()}. {top.figure.basis.words()}"
            + (f" {top.sentence}" if top.sentence else "")
        )

    def numbers(self) -> dict[str, Any]:
        """Both figures as plain values for the frozen evidence (empty when not priced)."""
        if self.reference is None or self.latest is None:
            return {}
        latest = self.latest.figure
        return {
            "unit": self.reference.basis.unit,
            "per": f"per {self.reference.basis.per}",
            "reference_figure": self.reference.record(),
            "latest_figure": None if latest is None else latest.record(),
            "latest_label": self.latest.label,
        }


def first_version(w: Work, *, model: Model, version: ModelVersion) -> FirstVersion:
    """A version with nothing live to compare with, priced by the business case on its
    reference rows and on the latest period of its own logged decisions."""
    if not values_set(model, current(model)):
        return FirstVersion(None, None)
    return FirstVersion(
        reference(w, model=model, version=version), headline(w, model=model, version=version)
    )
