"""A multiclass decision: the probability of every class, the class predicted, the class whose
probability the reasons explain (the predicted one unless another is asked for), and how the
probabilities move in a what-if."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from core.errors import InvalidInput
from core.explain.explainers import Explainer, one_thread
from core.explain.version_explainer import explainer_for
from core.store import Model, ModelVersion, Store


@dataclass(frozen=True)
class ClassProbabilities:
    """Every class's probability (the model's class order), the class predicted and the class
    explained."""

    probabilities: dict[str, float]
    predicted: str
    explained: str


def asked_class(model: Model, asked: str | None) -> str | None:
    """The class ASKED for, spelled as the model spells it (None: the predicted class); refuses
    a class the model does not have, and a class for a model without classes."""
    if asked is None:
        return None
    if model.task != "multiclass":
        raise InvalidInput(
            f"{model.name!r} is a {model.task} model: only a multiclass model has a class to "
            "choose; leave the class out"
        )
    classes = list(model.classes or [])
    for found in (c for c in classes if c == asked):
        return found
    for found in (c for c in classes if c.lower() == asked.strip().lower()):
        return found
    raise InvalidInput(
        f"{model.name!r} has no class {asked!r}; its classes are {', '.join(classes)}"
    )


def class_probabilities(explainer: Explainer, frame: pd.DataFrame) -> dict[str, float]:
    """The model's probability of each of its classes for the one-row FRAME."""
    with one_thread():
        proba = explainer.model.predict_proba(frame[explainer.names])[0]
    return {str(c): float(p) for c, p in zip(explainer.model.classes_, proba, strict=True)}


def predicted_class(probabilities: dict[str, float]) -> str:
    """The most probable class (the first of equals, as scikit-learn's predict takes it)."""
    names = list(probabilities)
    return names[int(np.argmax(list(probabilities.values())))]


def probability_moves(before: ClassProbabilities, after: ClassProbabilities) -> pd.DataFrame:
    """How each class's probability moves from BEFORE to AFTER (a what-if): class, before,
    after, change, and which class is predicted on each side."""
    frame = pd.DataFrame(
        {
            "class": list(before.probabilities),
            "before": list(before.probabilities.values()),
            "after": [after.probabilities[c] for c in before.probabilities],
        }
    )
    frame["change"] = frame["after"] - frame["before"]
    frame["predicted_before"] = frame["class"] == before.predicted
    frame["predicted_after"] = frame["class"] == after.predicted
    return frame


def similar_share(nearest: pd.DataFrame, model: Model, explained: str) -> float:
    """The share of NEAREST reference rows whose true class is EXPLAINED (y holds the index
    of a row's class among the model's classes)."""
    index = list(model.classes or []).index(explained)
    return float((nearest["y"] == index).mean())


def as_dict(found: ClassProbabilities | None) -> dict[str, Any]:
    """The CLI's JSON fields of a multiclass case (none for other tasks)."""
    if found is None:
        return {}
    return {
        "class": found.explained,
        "predicted_class": found.predicted,
        "probabilities": found.probabilities,
    }


def case_classes(
    store: Store,
    *,
    model: Model,
    version: ModelVersion,
    frame: pd.DataFrame,
    units: str,
    asked: str | None,
) -> ClassProbabilities | None:
    """A multiclass case's class probabilities and the class to explain (ASKED, else the
    predicted one); None for other tasks."""
    if model.task != "multiclass":
        return None
    any_class = asked or list(model.classes or [])[0]
    explainer = explainer_for(store, model=model, version=version, units=units, class_=any_class)
    probabilities = class_probabilities(explainer, frame)
    predicted = predicted_class(probabilities)
    return ClassProbabilities(probabilities, predicted, asked or predicted)
