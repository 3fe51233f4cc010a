"""A model's business case: the decision it drives and what each outcome is worth.

Versioned (every save is a numbered revision), audited, and editable by product owners and ML
engineers, except by the registrant or requester of a version in review (core.gate_settings: the
KPI gate reads the case). The current case is mirrored in the model's settings so every
calculation reads it from one place. Positive values are gains, negative values costs, per decision.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlmodel import col, select

from core import audit, gate_settings
from core.auth import Identity, require_action
from core.errors import InvalidInput
from core.registry import get_model
from core.store import BusinessCaseRevision, Model, Store, Work

NUMBERS = (
    "threshold",
    "value_tp",
    "value_fp",
    "value_tn",
    "value_fn",
    "cost_under",
    "cost_over",
    "volume_per_period",
    "target",
    "baseline_value",
)
TEXTS = ("period", "unit", "decision", "positive_action", "negative_action", "baseline")
BINARY_ONLY = (
    "threshold",
    "value_tp",
    "value_fp",
    "value_tn",
    "value_fn",
    "positive_action",
    "negative_action",
)
REGRESSION_ONLY = ("cost_under", "cost_over")
# A multiclass model's value matrix: one key per (actual, predicted) pair of classes.
CELL_PREFIX = "value:"
DEFAULTS: dict[str, Any] = {
    "threshold": 0.5,
    "value_tp": 0.0,
    "value_fp": 0.0,
    "value_tn": 0.0,
    "value_fn": 0.0,
    "cost_under": 0.0,
    "cost_over": 0.0,
    "volume_per_period": None,
    "period": "M",
    "unit": "EUR",
    "target": None,
    "baseline_value": None,
    "decision": "",
    "positive_action": "flagged",
    "negative_action": "not flagged",
    "baseline": "",
}


@dataclass(frozen=True)
class BusinessCase:
    """The current case of a model, with defaults filled in."""

    values: dict[str, Any]
    revision: int

    def __getitem__(self, key: str) -> Any:
        return self.values[key]


def current(model: Model) -> BusinessCase:
    """The model's current business case (defaults where nothing was saved)."""
    saved = model.settings.get("business_case", {})
    return BusinessCase({**DEFAULTS, **saved}, int(model.settings.get("business_case_revision", 0)))


def cell_key(actual: str, predicted: str) -> str:
    """The business-case key of what a decision predicting PREDICTED is worth when ACTUAL holds."""
    return f"{CELL_PREFIX}{actual}:{predicted}"


def value_matrix(model: Model, case: BusinessCase) -> list[list[float]]:
    """A multiclass model's k x k value matrix (actual x predicted, 0 where nothing was said)."""
    names = model.classes or []
    return [[float(case.values.get(cell_key(a, p)) or 0.0) for p in names] for a in names]


def values_set(model: Model, case: BusinessCase) -> bool:
    """Whether anyone has said what the model's decisions are worth (else every value is 0)."""
    if model.task == "multiclass":
        return any(v for row in value_matrix(model, case) for v in row)
    keys = (
        REGRESSION_ONLY
        if model.task == "regression"
        else ("value_tp", "value_fp", "value_tn", "value_fn")
    )
    return any(case[k] for k in keys)


def _parse(model: Model, key: str, raw: Any) -> Any:
    names = model.classes or []
    cells = {cell_key(a, p) for a in names for p in names}
    if key.startswith(CELL_PREFIX) and key not in cells:
        example = cell_key(names[0], names[-1]) if names else "value:<actual>:<predicted>"
        raise InvalidInput(
            f"{key} is no cell of {model.name}'s value matrix; name two of its classes "
            f"({', '.join(names) or 'it has none'}) as in {example}"
        )
    if key not in cells and key not in NUMBERS and key not in TEXTS:
        raise InvalidInput(
            f"unknown business-case key {key!r}; known: {', '.join(NUMBERS + TEXTS)}"
        )
    if model.task == "multiclass" and key in BINARY_ONLY + REGRESSION_ONLY:
        raise InvalidInput(
            f"{key} applies to binary or regression models; {model.name} is multiclass: say what "
            f"each decision is worth with {CELL_PREFIX}<actual>:<predicted>"
        )
    if model.task == "binary" and key in REGRESSION_ONLY:
        raise InvalidInput(f"{key} applies to regression models; {model.name} is binary")
    if model.task == "regression" and key in BINARY_ONLY:
        raise InvalidInput(f"{key} applies to binary models; {model.name} is regression")
    if key in TEXTS:
        text = str(raw).strip()
        if key == "period" and text.upper() not in ("D", "W", "M"):
            raise InvalidInput("period must be D, W or M")
        return text.upper() if key == "period" else text[:200]
    if raw is None or str(raw).strip() == "":
        if key in ("target", "baseline_value", "volume_per_period"):
            return None
        raise InvalidInput(f"{key} needs a number")
    try:
        number = float(raw)
    except (TypeError, ValueError):
        raise InvalidInput(f"{key} must be a number, not {raw!r}") from None
    if number != number or number in (float("inf"), float("-inf")):
        raise InvalidInput(f"{key} must be a finite number")
    if key == "threshold" and not 0 <= number <= 1:
        raise InvalidInput(f"the threshold is a score between 0 and 1, not {number:g}")
    if key == "volume_per_period" and number < 0:
        raise InvalidInput(f"the volume per period cannot be negative ({number:g})")
    if key in ("cost_under", "cost_over") and number < 0:
        raise InvalidInput(f"{key} is a cost per unit of error and cannot be negative")
    return number


def save(store: Store, *, model: str, changes: dict[str, Any], by: Identity) -> BusinessCase:
    """Validate CHANGES, save them as a new revision, mirror it in settings, and audit it."""
    require_action(by, "edit_business_case")
    with store.open().write() as w:
        entry = get_model(w, name=model)
        w.serialise(f"model:{entry.name}")
        clean = {k: _parse(entry, k, v) for k, v in changes.items()}
        before = current(entry)
        after = {**before.values, **clean}
        revision = _next_revision(w, entry)
        assert entry.id is not None
        w.session.add(
            BusinessCaseRevision(
                model_id=entry.id, revision=revision, case=after, saved_by=by.username
            )
        )
        entry.settings = {
            **entry.settings,
            "business_case": after,
            "business_case_revision": revision,
        }
        w.session.add(entry)
        audit.record(
            w,
            actor=by.username,
            role=by.role,
            action="business_case",
            model=model,
            before=before.values,
            after=after,
        )
        gate_settings.guard_change(
            w,
            model=entry,
            before={"business_case": before.values},
            after={"business_case": after},
            by=by,
        )
    return BusinessCase(after, revision)


def _next_revision(w: Work, model: Model) -> int:
    last = w.session.exec(
        select(BusinessCaseRevision)
        .where(BusinessCaseRevision.model_id == model.id)
        .order_by(col(BusinessCaseRevision.revision).desc())
    ).first()
    return (last.revision if last else 0) + 1


def history(w: Work, *, model: Model) -> list[BusinessCaseRevision]:
    """Every saved revision, newest first."""
    return list(
        w.session.exec(
            select(BusinessCaseRevision)
            .where(BusinessCaseRevision.model_id == model.id)
            .order_by(col(BusinessCaseRevision.revision).desc())
        ).all()
    )
