"""What a reference's target means: the task, the positive label, and y of each row.

y is 1/0 for binary models, the number for regression, and for multiclass models the class's
index in the model's class list, so the label table keeps one numeric y for every task.
"""

from __future__ import annotations

from typing import Any

from core.errors import InvalidInput
from core.files.sources import quote_ident, quote_literal
from core.store import Work

_TRUE_WORDS = ("1", "1.0", "true", "yes", "y", "t")


def settle_task(
    w: Work, *, target: str, score: str, task: str | None, positive_label: str | None
) -> tuple[str, str | None]:
    """The task (inferred when None) and the positive label the reference's target supports."""
    if task == "multiclass":  # its classes are checked by core.registry.classes
        return task, None
    t = quote_ident(target)
    distinct = [
        r[0]
        for r in w.rows(
            f"SELECT DISTINCT CAST({t} AS VARCHAR) FROM __ref_raw WHERE {t} IS NOT NULL LIMIT 3"
        )
    ]
    # Every score is finite by now; the filter keeps DuckDB from answering min/max out of
    # Parquet statistics, which say NaN when read with can_have_nan.
    finite = f"FILTER (WHERE isfinite({score}))"
    lo, hi = w.rows(f"SELECT min({score}) {finite}, max({score}) {finite} FROM __ref_raw")[0]
    if task is None:
        task = "binary" if len(distinct) <= 2 and lo >= 0 and hi <= 1 else "regression"
    if task == "regression":
        bad = w.rows(
            f"SELECT count(*) FROM __ref_raw "
            f"WHERE {t} IS NOT NULL AND TRY_CAST({t} AS DOUBLE) IS NULL"
        )[0][0]
        if bad:
            raise InvalidInput(f"target {target!r} has {bad} non-numeric value(s); not regression")
        return task, None
    if len(distinct) > 2:
        raise InvalidInput(
            f"target {target!r} has more than two values ({', '.join(distinct)}, ...); "
            "a binary model needs two, or use --task multiclass or regression"
        )
    if not (lo >= 0 and hi <= 1):
        raise InvalidInput(
            f"binary predictions must be probabilities of the positive label in [0, 1]; "
            f"found {lo:g} to {hi:g}"
        )
    if positive_label is None:
        truthy = [d for d in distinct if d.strip().lower() in _TRUE_WORDS]
        if len(truthy) != 1 and len(distinct) == 2:
            raise InvalidInput(
                f"cannot tell the positive label among {distinct}; pass --positive-label"
            )
        positive_label = truthy[0] if truthy else "1"
    elif distinct and not any(is_label(d, positive_label) for d in distinct):
        raise InvalidInput(
            f"positive label {positive_label!r} is not among target values {distinct}"
        )
    return task, positive_label


def is_label(value: str, positive: str) -> bool:
    """Whether VALUE spells the label POSITIVE (ignoring case, or as the same number)."""
    if value.strip().lower() == positive.strip().lower():
        return True
    try:
        return float(value) == float(positive)
    except ValueError:
        return False


def label_to_y_sql(
    expr: str, positive_label: str | None, *, classes: list[str] | None = None
) -> tuple[str, list[Any]]:
    """SQL turning a raw label into y, with params: 1/0 for binary, the number for regression,
    the index among CLASSES for multiclass (NULL for a class not among them)."""
    if classes is not None:
        return class_index_sql(expr, classes), []
    if positive_label is None:
        return f"TRY_CAST({expr} AS DOUBLE)", []
    text = f"lower(trim(CAST({expr} AS VARCHAR)))"
    sql = (
        f"CASE WHEN {expr} IS NULL THEN NULL "
        f"WHEN {text} = lower(trim(?)) OR TRY_CAST({text} AS DOUBLE) = TRY_CAST(? AS DOUBLE) "
        f"OR ({text} IN ('true', 't', 'yes') AND lower(trim(?)) IN ('1', 'true', 't', 'yes')) "
        "THEN 1.0 ELSE 0.0 END"
    )
    return sql, [positive_label, positive_label, positive_label]


def class_index_sql(expr: str, classes: list[str]) -> str:
    """SQL for the index of EXPR's class among CLASSES (as text, ignoring case and blanks, or as
    the same number: a label 2.0 is class "2"), NULL when it is none of them."""
    text = f"lower(trim(CAST({expr} AS VARCHAR)))"
    number = f"TRY_CAST({text} AS DOUBLE)"
    cases = []
    for i, name in enumerate(classes):
        literal = quote_literal(name.strip().lower())
        cases.append(
            f"WHEN {text} = {literal} OR {number} = TRY_CAST({literal} AS DOUBLE) THEN {i}"
        )
    return f"CASE {' '.join(cases)} END"
