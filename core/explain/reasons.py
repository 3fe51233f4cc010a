"""Reason codes: the strongest drivers of one decision, as sentences a frontline user can follow.

"Debt-to-income of 48% is higher than 90% of past applicants; it raised the default risk by
12 points." The comparison with the population comes from the version's reference rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from core.explain import Explanation
from core.registry import features_of
from core.registry.feature_metadata import Vocabulary
from core.registry.features import Feature
from core.store import Model, ModelVersion
from core.words import quantity


@dataclass(frozen=True)
class Reason:
    """One driver of a decision."""

    feature: str
    contribution: float
    sentence: str


def population_position(
    reference: pd.DataFrame, feature: Feature, value: Any
) -> tuple[float, float] | None:
    """Numeric: shares of reference rows below and above VALUE. Categorical: share equal to it."""
    if value is None or feature.name not in reference:
        return None
    column = reference[feature.name].dropna()
    if column.empty:
        return None
    if feature.kind == "numeric":
        numbers = column.astype(float)
        return float((numbers < float(value)).mean()), float((numbers > float(value)).mean())
    share = float((column.astype(str) == str(value)).mean())
    return share, share


def _amount(contribution: float, units: str, task: str) -> str:
    amount = abs(contribution)
    if task in ("binary", "multiclass") and units == "probability":
        points = amount * 100
        if points < 0.05:
            return "less than 0.1 points"
        text = f"{points:.0f}" if points >= 0.95 else f"{points:.1f}"
        return f"{text} point{'' if text == '1' else 's'}"
    return f"{amount:,.0f}" if amount >= 100 else f"{amount:.3g}"  # never 1.23e+03


def sentence(
    feature: Feature,
    value: Any,
    contribution: float,
    position: tuple[float, float] | None,
    words: Vocabulary,
    units: str,
    task: str,
) -> str:
    """One reason in plain words."""
    info = words.info(feature.name)
    moved = "raised" if contribution > 0 else "lowered"
    effect = f"it {moved} {words.outcome} by {_amount(contribution, units, task)}"
    if value is None:
        return f"{info.label} was not provided; {effect}."
    if position is None:
        return f"{info.label} is {quantity(value, info.unit)}; {effect}."
    below, above = position
    if feature.kind == "numeric":
        same = 1 - below - above
        if same >= max(below, above):  # a common value, e.g. no missed payments
            compare = f"the same as for {same:.0%} of {words.population}"
        elif below >= above:
            compare = f"higher than {below:.0%} of {words.population}"
        else:
            compare = f"lower than {above:.0%} of {words.population}"
        return f"{info.label} of {quantity(value, info.unit)} is {compare}; {effect}."
    if below == 0:
        common = f"a value none of the {words.population} had"
    else:
        common = f"like {below:.0%} of {words.population}"
    return f"{info.label} is {quantity(value, info.unit)}, {common}; {effect}."


def reasons(
    reference: pd.DataFrame,
    model: Model,
    version: ModelVersion,
    explanation: Explanation,
    words: Vocabulary,
    top: int = 3,
) -> list[Reason]:
    """The TOP drivers up, then the TOP drivers down, each as a sentence."""
    features = {f.name: f for f in features_of(version)}
    ranked = sorted(explanation.contributions.items(), key=lambda kv: -abs(kv[1]))
    ups = [kv for kv in ranked if kv[1] > 0][:top]
    downs = [kv for kv in ranked if kv[1] < 0][:top]
    out = []
    for name, contribution in ups + downs:
        value = explanation.values.get(name)
        position = population_position(reference, features[name], value)
        out.append(
            Reason(
                name,
                contribution,
                sentence(
                    features[name],
                    value,
                    contribution,
                    position,
                    words,
                    explanation.units,
                    model.task,
                ),
            )
        )
    return out
