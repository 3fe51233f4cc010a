"""One entry point for explaining decisions: a logged case or a what-if (with reasons, a
counterfactual hint and similar cases), and the recent cases to pick from. The model overall
is explained in core.explain.global_importance."""

from __future__ import annotations

import json
from collections import OrderedDict
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd

from core.errors import InvalidInput
from core.explain import (
    Explanation,
    class_probabilities,
    counterfactuals,
    explainer_for,
    logged_case,
)
from core.explain.class_probabilities import ClassProbabilities, asked_class, case_classes
from core.explain.columns import typed_inputs
from core.explain.reasons import Reason, reasons
from core.monitoring.performance import threshold_of
from core.registry import classes, features_of, get_model, get_version, reference_frame
from core.registry.feature_metadata import Vocabulary, vocabulary
from core.store import Model, ModelVersion, Store, Work, log_tables, open_store
from core.words import points, quantity, score

SIMILAR = 50
CACHED_CASES = 512
# Explanations of logged cases, keyed by everything that shapes them (LRU).
_CASES: OrderedDict[tuple, CaseExplanation] = OrderedDict()
REFERENCE_ROWS = 50_000


@dataclass(frozen=True)
class CaseExplanation:
    """Everything shown about one decision."""

    model: str
    version: int
    request_id: str | None
    explanation: Explanation
    threshold: float | None
    reasons: list[Reason]
    counterfactual: counterfactuals.Counterfactual | None
    counterfactual_text: str | None
    similar: dict[str, Any] = field(default_factory=dict)
    loaded_with: str = ""
    logged_score: float | None = None
    decision: tuple[str, str] = ("flagged", "not flagged")
    classes: ClassProbabilities | None = None  # a multiclass model's, None for other tasks

    @property
    def flagged(self) -> bool | None:
        """Binary: whether the output is at or above the threshold."""
        if self.threshold is None:
            return None
        return self.explanation.output >= self.threshold

    def as_dict(self) -> dict[str, Any]:
        """The CLI's JSON shape."""
        cf, e = self.counterfactual, self.explanation
        return {
            "model": self.model,
            "version": self.version,
            "request_id": self.request_id,
            "base_value": e.base_value,
            "output": e.output,
            "units": e.units,
            "method": e.method,
            "sampling": None
            if e.plan is None
            else {
                "exact": e.plan.exact,
                "antithetic_pairs": e.plan.pairs,
                "background_rows": e.plan.background_rows,
                "scored_rows_per_case": e.plan.scored_rows,
                "seed": e.plan.seed,
                "note": e.note,
            },
            "errors": e.errors,
            "odds_ratios": e.odds_ratios,
            "contributions": self.explanation.contributions,
            "values": self.explanation.values,
            "threshold": self.threshold,
            "flagged": self.flagged,
            "reasons": [r.sentence for r in self.reasons],
            "counterfactual": None
            if cf is None
            else {
                "changes": [
                    {"feature": c.feature, "from": c.before, "to": c.after} for c in cf.changes
                ],
                "score": cf.score,
                "text": self.counterfactual_text,
            },
            "similar": self.similar,
            "model_file": self.loaded_with,
            **class_probabilities.as_dict(self.classes),
        }


def _context(w: Work, model: str, version: int | None) -> tuple[Model, ModelVersion]:
    entry = get_model(w, name=model)
    return entry, get_version(w, model=entry, version=version)


def explain_case(
    store: Store,
    *,
    model: str,
    request_id: str,
    version: int | None = None,
    units: str = "probability",
    class_: str | None = None,
) -> CaseExplanation:
    """Explain a logged decision (by request id), with reasons and a counterfactual hint; a
    multiclass model's reasons are for CLASS_, by default the predicted class."""
    with store.open().read() as r:
        entry = get_model(r, name=model)
        asked = asked_class(entry, class_)
        frame, record = logged_case(r, model=entry, request_id=request_id)
        target = get_version(
            r, model=entry, version=version if version is not None else int(record["version"])
        )
        shaped_by = json.dumps(
            [target.feature_schema.get("metadata"), entry.settings], sort_keys=True, default=str
        )
        key = (
            store.target,
            entry.id,
            target.version,
            target.artifact_sha256,
            request_id,
            units,
            asked,
            shaped_by,
        )
        if key in _CASES:
            _CASES.move_to_end(key)
            return _CASES[key]
        missing = [f.name for f in features_of(target) if f.name not in frame]
        if missing:
            raise InvalidInput(
                f"{entry.name} v{target.version} needs {', '.join(missing)}, which request "
                f"{request_id!r} was not logged with; explain it with v{record['version']}, which "
                "scored it"
            )
        result = _explain_frame(store, r, entry, target, frame, units, asked)
    result_dict = {**result.__dict__, "request_id": request_id, "logged_score": record["score"]}
    explained = CaseExplanation(**result_dict)
    _CASES[key] = explained
    if len(_CASES) > CACHED_CASES:
        _CASES.popitem(last=False)
    return explained


def explain_values(
    store: Store,
    *,
    model: str,
    values: dict[str, Any],
    version: int | None = None,
    units: str = "probability",
    class_: str | None = None,
) -> CaseExplanation:
    """Explain a case given as feature values (the what-if panel); a multiclass model's
    reasons are for CLASS_, by default the predicted class, and every class's probability is
    given (core.explain.class_probabilities.probability_moves compares two cases)."""
    with store.open().read() as r:
        entry, target = _context(r, model, version)
        asked = asked_class(entry, class_)
        names = [f.name for f in features_of(target)]
        frame = pd.DataFrame([{n: values.get(n) for n in names}])
        return _explain_frame(store, r, entry, target, frame, units, asked)


def _explain_frame(
    store: Store,
    r: Work,
    entry: Model,
    target: ModelVersion,
    frame: pd.DataFrame,
    units: str,
    asked: str | None,
) -> CaseExplanation:
    typed = typed_inputs(frame, features_of(target))
    by_class = case_classes(
        store, model=entry, version=target, frame=typed, units=units, asked=asked
    )
    explained = None if by_class is None else by_class.explained
    explainer = explainer_for(store, model=entry, version=target, units=units, class_=explained)
    explanation = explainer.explain(typed)[0]
    words = vocabulary(target, entry.task)
    if explained is not None:
        words = replace(words, outcome=f"the probability of {explained}")
    threshold = threshold_of(entry) if entry.task == "binary" else None
    reference = _reference(store, entry, target)
    found = reasons(reference, entry, target, explanation, words)
    hint, text = None, None
    if threshold is not None:
        actionable = [n for n, info in words.features.items() if info.actionable]
        probability = (
            explainer
            if units == "probability"
            else explainer_for(store, model=entry, version=target)
        )
        hint = counterfactuals.find(probability, frame, reference, threshold, actionable)
        text = hint_text(hint, words, entry) if hint else None
    return CaseExplanation(
        model=entry.name,
        version=target.version,
        request_id=None,
        explanation=explanation,
        threshold=threshold,
        reasons=found,
        counterfactual=hint,
        counterfactual_text=text,
        similar=similar_cases(reference, entry, target, frame, words, class_=explained),
        loaded_with=explainer.loaded_with,
        decision=decision_words(entry),
        classes=by_class,
    )


def _reference(store: Store, model: Model, version: ModelVersion) -> pd.DataFrame:
    """The version's reference rows (at most REFERENCE_ROWS), cached per version."""
    return _cached_reference(store.target, model.id, version.version, version.data_sha256)


@lru_cache(maxsize=8)
def _cached_reference(db: str, model_id: int, version: int, data_sha: str) -> pd.DataFrame:
    with open_store(db).read() as r:
        entry = r.session.get(Model, model_id)
        target = get_version(r, model=entry, version=version)
        return reference_frame(r, model=entry, version=target, limit=REFERENCE_ROWS)


def decision_words(model: Model) -> tuple[str, str]:
    """How to say the two outcomes of the decision (positive, negative)."""
    case = model.settings.get("business_case", {})
    return case.get("positive_action", "flagged"), case.get("negative_action", "not flagged")


def hint_text(hint: counterfactuals.Counterfactual, words: Vocabulary, model: Model) -> str:
    """'If Debt-to-income were 30% instead of 48%, the case would not be flagged (score
    31 / 100, threshold 50).'"""
    parts = []
    for change in hint.changes:
        info = words.info(change.feature)
        parts.append(
            f"{info.label} were {quantity(change.after, info.unit)} instead of "
            f"{quantity(change.before, info.unit)}"
        )
    positive, negative = decision_words(model)
    outcome = negative if hint.score < hint.threshold else positive
    return (
        f"If {' and '.join(parts)}, the case would be {outcome} "
        f"(score {score(hint.score, threshold=hint.threshold)}, "
        f"threshold {points(hint.threshold)})."
    )


def similar_cases(
    reference: pd.DataFrame,
    model: Model,
    version: ModelVersion,
    frame: pd.DataFrame,
    words: Vocabulary,
    class_: str | None = None,
) -> dict[str, Any]:
    """How the SIMILAR nearest reference cases turned out (their outcome rate; a multiclass
    model's: the share of them that were CLASS_)."""
    reference = reference[reference["y"].notna()]
    if reference.empty:
        return {}
    features = features_of(version)
    distance = np.zeros(len(reference))
    for f in features:
        value = frame.iloc[0][f.name]
        column = reference[f.name]
        if f.kind == "numeric":
            spread = float(column.std()) or 1.0
            if value is None or pd.isna(value):
                distance += column.notna().astype(float).to_numpy()
            else:
                distance += np.nan_to_num(
                    np.abs(column.astype(float) - float(value)) / spread, nan=1.0
                )
        else:
            distance += (column.astype(object) != value).astype(float).to_numpy()
    nearest = reference.iloc[np.argsort(distance, kind="stable")[:SIMILAR]]
    if class_ is not None:
        rate = class_probabilities.similar_share(nearest, model, class_)
    else:
        rate = float(nearest["y"].mean())
    out: dict[str, Any] = {
        "count": int(len(nearest)),
        "outcome_rate": rate,
        "mean_score": float(nearest["score"].mean()),
    }
    if class_ is not None:
        out["text"] = (
            f"Of the {len(nearest)} most similar {words.population} in the training data, "
            f"{rate:.0%} were {class_}."
        )
    elif model.task == "binary":
        out["text"] = (
            f"Of the {len(nearest)} most similar {words.population} in the training "
            f"data, {rate:.0%} {words.positive_outcome}."
        )
    else:
        out["text"] = (
            f"The {len(nearest)} most similar {words.population} in the training data "
            f"had an average outcome of {rate:,.3g}."
        )
    return out


def recent_cases(
    store: Store,
    *,
    model: str,
    start: Any = None,
    end: Any = None,
    score_range: tuple[float, float] | None = None,
    flagged: bool | None = None,
    limit: int = 200,
) -> pd.DataFrame:
    """Latest logged decisions matching the filters: request id, time, version, score, and
    the decision (binary) or the predicted class (multiclass, whose score is its probability)."""
    with store.open().read() as r:
        entry = get_model(r, name=model)
        threshold = threshold_of(entry) if entry.task == "binary" else None
        clauses = ["TRUE"]
        params: list[Any] = []
        if start is not None:
            clauses.append("ts >= ?")
            params.append(pd.Timestamp(start).to_pydatetime())
        if end is not None:
            clauses.append("ts < ? + INTERVAL 1 DAY")
            params.append(pd.Timestamp(end).to_pydatetime())
        if score_range is not None:
            clauses.append("score BETWEEN ? AND ?")
            params += [float(score_range[0]), float(score_range[1])]
        if flagged is not None and threshold is not None:
            clauses.append("score >= ?" if flagged else "score < ?")
            params.append(threshold)
        assert entry.id is not None
        outputs = classes.class_outputs(get_version(r, model=entry))
        # A multiclass model's score is its confidence: the class it goes with comes too.
        predicted = "" if outputs is None else f", {outputs.predicted.column} AS predicted_class"
        frame = r.frame(
            f"SELECT request_id, ts, version{predicted}, score "
            f"FROM {log_tables.pred_table(entry.id)} "
            f"WHERE {' AND '.join(clauses)} ORDER BY ts DESC, request_id LIMIT ?",
            [*params, int(limit)],
        )
    if threshold is not None:
        positive, negative = decision_words(entry)
        frame["decision"] = np.where(frame["score"] >= threshold, positive, negative)
    return frame
