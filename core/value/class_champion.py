"""A multiclass candidate in money: against the live version on the same labelled production
decisions (both model files decide them again), or on its own reference and logs when nothing is
live. Each decision is worth the value matrix's cell (actual, predicted); the figures carry their
basis (core.value.figures) so the release gate, the card and the CLI only format them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from core.errors import InvalidInput
from core.registry import get_model, get_version
from core.store import Model, ModelVersion, Store, Work, log_tables
from core.value import class_value, kpi
from core.value.business_case import current, value_matrix, values_set
from core.value.champion import labelled_sample, model_and_inputs
from core.value.figures import ESTIMATED, REALIZED, REFERENCE, Basis, Figure
from core.words import PERIODS, money


def _basis(
    model: Model,
    version: ModelVersion,
    volume: tuple[float | None, str | None],
    kind: str,
    **fields: Any,
) -> Basis:
    case = current(model)
    return Basis(
        model=model.name,
        version=version.version,
        kind=kind,
        unit=case["unit"],
        per=PERIODS[case["period"]],
        decisions_per_period=volume[0],
        decisions_per_period_from=volume[1],
        **fields,
    )


def decided_classes(estimator: Any, frame: pd.DataFrame, classes: list[str]) -> np.ndarray:
    """Each row's decided class as its index in the model's CLASSES: the most probable one."""
    known = [str(c) for c in getattr(estimator, "classes_", [])]
    missing = [c for c in classes if c not in known]
    if missing:
        raise InvalidInput(
            f"the model file does not know the class(es) {', '.join(missing)} (it knows {known})"
        )
    proba = np.asarray(estimator.predict_proba(frame), float)
    return proba[:, [known.index(c) for c in classes]].argmax(axis=1)


@dataclass(frozen=True)
class ClassComparison:
    """Live version and candidate valued by the value matrix on the same labelled decisions."""

    champion: Figure
    challenger: Figure

    def sentence(self) -> str:
        """'On the same 1,600 latest decisions with outcomes, v2 would earn 3.10 EUR more per
        decision than v1.'"""
        a, b = self.champion, self.challenger
        per_period = a.value_per_period is not None and b.value_per_period is not None
        diff = (
            (b.value_per_period or 0.0) - (a.value_per_period or 0.0)
            if per_period
            else (b.value_per_decision or 0.0) - (a.value_per_decision or 0.0)
        )
        per = f"per {a.basis.per}" if per_period else "per decision"
        return (
            f"On the same {a.basis.with_outcomes:,} latest decisions with outcomes, "
            f"v{b.basis.scored_by} would earn {money(abs(diff), a.basis.unit)} "
            f"{'more' if diff >= 0 else 'less'} {per} than v{a.basis.version}, each valued "
            "by the value matrix."
        )

    def table(self) -> pd.DataFrame:
        """One row per version, in words and money, for people."""
        unit, per = self.champion.basis.unit, self.champion.basis.per
        return pd.DataFrame(
            [
                {
                    "Role": role,
                    "Version": f"v{figure.basis.scored_by or figure.basis.version}",
                    "Per decision": money(figure.value_per_decision, unit),
                    f"Per {per}": money(figure.value_per_period, unit),
                }
                for role, figure in (("champion", self.champion), ("challenger", self.challenger))
            ]
        )


def compare(store: Store, *, model: str, champion: int, challenger: int) -> ClassComparison:
    """Live version and candidate in money on the latest labelled decisions of the live one:
    each model file decides them, and each decision is worth V[actual, decided]."""
    with store.open().read() as r:
        entry = get_model(r, name=model)
        live = get_version(r, model=entry, version=champion)
        other = get_version(r, model=entry, version=challenger)
        sample = labelled_sample(r, model=entry, version=live)
        volume = kpi.decisions_per_period(r, model=entry)
    if sample.empty:
        raise InvalidInput(f"no labelled production decisions for v{live.version} yet")
    classes = list(entry.classes or [])
    matrix = np.asarray(value_matrix(entry, current(entry)), float)
    actual = sample["y"].to_numpy(dtype=int)
    found = []
    for version in (live, other):
        estimator, inputs = model_and_inputs(version, sample, to="decide")
        try:
            decided = decided_classes(estimator, inputs, classes)
        except InvalidInput as exc:
            raise InvalidInput(f"v{version.version}: {exc}") from None
        worth = matrix[actual, decided]
        mean = float(worth.mean())
        half = kpi.Z * float(worth.std(ddof=1)) / np.sqrt(len(worth)) if len(worth) > 1 else 0.0
        basis = _basis(
            entry, live, volume, REALIZED, period=None, start=sample["__logged_at"].min(),
            end=sample["__logged_at"].max(), decisions=len(worth), with_outcomes=len(worth),
            scored_by=None if version.version == live.version else version.version, latest=True,
        )  # fmt: skip
        found.append(Figure(mean, mean - half, mean + half, basis))
    return ClassComparison(found[0], found[1])


@dataclass(frozen=True)
class ClassFirstVersion:
    """A multiclass version with nothing live to set it against: its REFERENCE figure and the
    figure of the decisions it has logged itself (LATEST: None when it has logged none); both
    None when no value matrix says what a decision is worth."""

    reference: Figure | None
    latest: Figure | None
    priced: bool

    def sentence(self) -> str:
        """Both figures with their bases in words, for the release gate."""
        said = "Nothing is live yet to compare with"
        if not self.priced or self.reference is None:
            return f"{said}, and no value matrix says what a decision is worth."
        if self.reference.value_per_decision is None:
            said += ". On its reference: not measured, the reference has no outcomes."
        else:
            said += (
                f". On its reference: {self.reference.per_period_words()}. "
                f"{self.reference.basis.words()}"
            )
        if self.latest is None:
            return f"{said} It has logged no decisions yet."
        return f"{said} Its own decisions: {self.latest.per_period_words()}. " + (
            self.latest.basis.words()
        )

    def numbers(self) -> dict[str, Any]:
        """Both figures as plain values for the frozen evidence (empty when not priced)."""
        if not self.priced or self.reference is None:
            return {}
        return {
            "unit": self.reference.basis.unit,
            "per": f"per {self.reference.basis.per}",
            "reference_figure": self.reference.record(),
            "latest_figure": None if self.latest is None else self.latest.record(),
            "latest_label": "all its decisions, "
            + (
                "measured"
                if self.latest is None or self.latest.basis.kind == REALIZED
                else "estimated"
            ),
        }


def first_version(w: Work, *, model: Model, version: ModelVersion) -> ClassFirstVersion:
    """A multiclass version priced by its value matrix on its labelled reference rows and on
    its own logged decisions (measured where outcomes are in, else estimated)."""
    assert model.id is not None
    if not values_set(model, current(model)):
        return ClassFirstVersion(None, None, priced=False)
    volume = kpi.decisions_per_period(w, model=model)
    on_ref = class_value.on_reference(w, model=model, version=version)
    reference = Figure(
        on_ref.realized,
        None,
        None,
        _basis(
            model, version, volume, REFERENCE, period=None, start=None, end=None,
            decisions=on_ref.n_labeled, with_outcomes=on_ref.n_labeled,
        ),
    )  # fmt: skip
    logged = class_value.overall(w, model=model, version=version)
    if not logged.n:
        return ClassFirstVersion(reference, None, priced=True)
    first, last = w.rows(
        f"SELECT min(ts), max(ts) FROM {log_tables.pred_table(model.id)} WHERE version = ?",
        [version.version],
    )[0]
    measured = logged.n_labeled > 0
    latest = Figure(
        logged.realized if measured else logged.estimated,
        None if measured else logged.lower,
        None if measured else logged.upper,
        _basis(
            model, version, volume, REALIZED if measured else ESTIMATED, period=None,
            start=first, end=last, decisions=logged.n, with_outcomes=logged.n_labeled,
        ),
    )  # fmt: skip
    return ClassFirstVersion(reference, latest, priced=True)
