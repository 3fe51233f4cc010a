"""Multiclass models: the predicted class and one probability column per class, named by a
prefix (`p_setosa`, `p_versicolor`, ...), checked against the reference and the model file.

The predicted class and each class's probability are kept in log columns mapped like features
(core.store.log_tables.feature_column), so a team store's Parquet logs carry them as they carry
inputs. A row's `score` is the probability of its predicted class: the model's confidence.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from core.errors import InvalidInput
from core.files.sources import quote_ident, quote_literal
from core.metrics import multiclass_metrics
from core.registry.features import Feature, profile
from core.registry.reproduction import ROWS, TOLERANCE, Reproduction
from core.registry.targets import class_index_sql
from core.store import Model, ModelVersion, Work, log_tables

DEFAULT_PREFIX = "p_"
# How far a row's probabilities may sum from 1: files round probabilities to a few decimals.
SUM_TOLERANCE = 0.01
EPS = float(np.finfo(np.float64).eps)  # scikit-learn's clip of probabilities in log loss


@dataclass(frozen=True)
class ClassOutputs:
    """What a multiclass version logs besides its inputs: the predicted class, and each class's
    probability (in the model's class order)."""

    predicted: Feature
    probabilities: dict[str, Feature]

    def features(self) -> list[Feature]:
        """The predicted class and the probability columns, as drift checks them."""
        return [self.predicted, *self.probabilities.values()]

    def to_json(self) -> dict[str, Any]:
        """Plain dict for the version's feature schema."""
        return {
            "predicted": self.predicted.to_json(),
            "probabilities": [
                {"class": c, "feature": f.to_json()} for c, f in self.probabilities.items()
            ],
        }


def class_outputs(version: ModelVersion) -> ClassOutputs | None:
    """A multiclass version's output columns, None for other tasks."""
    found = version.feature_schema.get("outputs")
    if not found:
        return None
    return ClassOutputs(
        predicted=Feature(**found["predicted"]),
        probabilities={p["class"]: Feature(**p["feature"]) for p in found["probabilities"]},
    )


def probability_columns(columns: list[str], prefix: str) -> dict[str, str]:
    """Class -> reference column, for each column named PREFIX + class, in file order."""
    return {c[len(prefix) :]: c for c in columns if c.startswith(prefix) and len(c) > len(prefix)}


def check_reference(
    w: Work,
    *,
    table: str,
    target: str,
    prediction: str,
    columns: dict[str, str],
    prefix: str,
    source: str,
) -> None:
    """Refuse a multiclass reference whose classes, predicted classes or probabilities are
    inconsistent, naming the first problem found."""
    classes = list(columns)
    if len(classes) < 2:
        raise InvalidInput(
            f"{source}: a multiclass reference needs one probability column per class, named "
            f"by --proba-prefix; found {len(classes)} ({', '.join(columns.values()) or 'none'})"
        )
    for column, what in ((target, "target"), (prediction, "predicted class")):
        col = quote_ident(column)
        unknown = w.rows(
            f"SELECT CAST({col} AS VARCHAR) FROM {table} WHERE {col} IS NOT NULL "
            f"AND ({class_index_sql(col, classes)}) IS NULL ORDER BY __row LIMIT 1"
        )
        if unknown:
            raise InvalidInput(
                f"{source}: {what} column {column!r} holds {unknown[0][0]!r}, which is not one "
                f"of the classes {classes} (one per {prefix}<class> column); add a "
                f"{prefix}{unknown[0][0]} column or fix the {what}"
            )
    missing = w.rows(f"SELECT count(*) FROM {table} WHERE {quote_ident(prediction)} IS NULL")
    if missing[0][0]:
        raise InvalidInput(
            f"{source}: {missing[0][0]} row(s) without a predicted class in column {prediction!r}"
        )
    values = {c: f"TRY_CAST({quote_ident(name)} AS DOUBLE)" for c, name in columns.items()}
    for c, value in values.items():
        bad, lo, hi = w.rows(
            f"SELECT count(*) FILTER (WHERE {value} IS NULL OR NOT isfinite({value})), "
            f"min({value}) FILTER (WHERE isfinite({value})), "
            f"max({value}) FILTER (WHERE isfinite({value})) FROM {table}"
        )[0]
        if bad:
            raise InvalidInput(
                f"{source}: column {columns[c]!r} has {bad} row(s) with a missing or "
                "non-numeric probability"
            )
        if lo < 0 or hi > 1:
            raise InvalidInput(
                f"{source}: column {columns[c]!r} holds {lo if lo < 0 else hi:g}, not a "
                "probability in [0, 1]"
            )
    total = " + ".join(values.values())
    off = w.rows(
        f"SELECT count(*) OVER (), __row, {total} FROM {table} "
        f"WHERE abs({total} - 1) > {SUM_TOLERANCE} ORDER BY __row LIMIT 1"
    )
    if off:
        n, row, found = off[0]
        raise InvalidInput(
            f"{source}: the {prefix}<class> probabilities of {n} row(s) do not sum to 1 "
            f"(data row {row}: {found:.4g}); each row's must, within {SUM_TOLERANCE}"
        )


def predicted_probability_sql(prediction: str, columns: dict[str, str]) -> str:
    """SQL for a row's probability of its predicted class, from its probability columns."""
    index = class_index_sql(prediction, list(columns))
    cases = " ".join(f"WHEN {i} THEN {value}" for i, value in enumerate(columns.values()))
    return f"CASE {index} {cases} END"


def check_model_classes(estimator: Any, *, classes: list[str], prefix: str, source: str) -> None:
    """Refuse a model file whose classes differ from the reference's probability columns."""
    if not callable(getattr(estimator, "predict_proba", None)):
        raise InvalidInput(
            f"{source}: the model has no predict_proba; a multiclass model must give each "
            "class's probability"
        )
    known = [str(c) for c in getattr(estimator, "classes_", [])]
    for c in known:
        if c not in classes:
            raise InvalidInput(
                f"{source}: the model has class {c!r} but the reference has no {prefix}{c} column"
            )
    for c in classes:
        if c not in known:
            raise InvalidInput(
                f"{source}: column {prefix}{c} names a class the model does not know "
                f"(its classes are {known})"
            )


def reproduce_probabilities(
    w: Work,
    *,
    model: Model,
    version: int,
    features: list[Feature],
    outputs: ClassOutputs,
    estimator: Any,
    rows: int = ROWS,
) -> Reproduction:
    """Score the first ROWS reference rows with ESTIMATOR and compare every class probability."""
    assert model.id is not None
    cols = ", ".join(f"{f.column} AS {quote_ident(f.name)}" for f in features)
    logged = ", ".join(
        f"{f.column} AS {quote_ident('p:' + c)}" for c, f in outputs.probabilities.items()
    )
    sample = w.frame(
        f"SELECT {logged}, {cols} FROM {log_tables.ref_table(model.id)} "
        "WHERE version = ? ORDER BY row_no LIMIT ?",
        [version, int(rows)],
    )
    try:
        found = np.asarray(estimator.predict_proba(sample[[f.name for f in features]]), float)
    except Exception as exc:  # a model that cannot take the reference's columns
        text = str(exc).splitlines()[0] if str(exc) else ""
        raise InvalidInput(
            "the model file cannot score the reference's feature columns "
            f"({type(exc).__name__}: {text})"
        ) from None
    order = [[str(c) for c in estimator.classes_].index(c) for c in outputs.probabilities]
    claimed = sample[[f"p:{c}" for c in outputs.probabilities]].to_numpy(float)
    gap = np.abs(found[:, order] - claimed)
    gap = np.where(np.isnan(gap), np.inf, gap).max(axis=1, initial=0.0)
    allowed = TOLERANCE * np.maximum(1.0, np.abs(claimed).max(axis=1, initial=0.0))
    return Reproduction(
        rows=len(sample),
        differing=int((gap > allowed).sum()),
        max_gap=float(gap.max()) if len(gap) else 0.0,
    )


def canonical_class_sql(expr: str, classes: list[str]) -> str:
    """SQL for EXPR's class spelled as the model spells it (NULL when unknown), so the logs,
    the reference and drift's categories agree whatever case or number format a file used."""
    names = " ".join(f"WHEN {i} THEN {quote_literal(c)}" for i, c in enumerate(classes))
    return f"CASE {class_index_sql(expr, classes)} {names} END"


def class_position_sql(column: str, classes: list[str]) -> str:
    """SQL for the index of a stored (canonical) class among CLASSES."""
    names = " ".join(f"WHEN {quote_literal(c)} THEN {i}" for i, c in enumerate(classes))
    return f"CASE {column} {names} END"


def map_outputs(w: Work, *, model: Model, prediction: str, columns: dict[str, str]) -> ClassOutputs:
    """Log columns and reference profiles of the predicted class and each class probability."""
    assert model.id is not None
    model_id = model.id

    def mapped(name: str, kind: str) -> Feature:
        column = log_tables.feature_column(w, model_id=model_id, name=name, kind=kind)
        return profile(w.db, "__ref_raw", name, kind, column)

    return ClassOutputs(
        predicted=mapped(prediction, "categorical"),
        probabilities={c: mapped(name, "numeric") for c, name in columns.items()},
    )


def class_counts(
    w: Work, *, source: str, params: list[Any], group: str, outputs: ClassOutputs
) -> Any:
    """Labelled rows of SOURCE per group, actual and predicted class index: n, and the sum of
    each row's log loss (-ln of the probability given to its actual class, clipped as
    scikit-learn clips it)."""
    classes = list(outputs.probabilities)
    actual_p = " ".join(
        f"WHEN {i} THEN {f.column}" for i, f in enumerate(outputs.probabilities.values())
    )
    return w.frame(
        f"SELECT {group} AS g, CAST(y AS INTEGER) AS actual, "
        f"{class_position_sql(outputs.predicted.column, classes)} AS predicted, count(*) AS n, "
        f"sum(-ln(least(greatest(CASE CAST(y AS INTEGER) {actual_p} END, {EPS!r}), "
        f"{1 - EPS!r}))) AS loss FROM {source} WHERE y IS NOT NULL GROUP BY ALL",
        params,
    )


def confusion(counts: Any, k: int) -> tuple[np.ndarray, float]:
    """The k x k matrix (actual x predicted) of COUNTS' rows, and their summed log loss."""
    matrix = np.zeros((k, k))
    np.add.at(
        matrix,
        (counts["actual"].to_numpy(int), counts["predicted"].to_numpy(int)),
        counts["n"].to_numpy(float),
    )
    return matrix, float(counts["loss"].sum())


def reference_metrics(
    w: Work, *, model: Model, version: int, outputs: ClassOutputs
) -> dict[str, Any]:
    """A multiclass version's metrics on its labelled reference rows."""
    assert model.id is not None
    counts = class_counts(
        w,
        source=f"(SELECT * FROM {log_tables.ref_table(model.id)} WHERE version = ?)",
        params=[version],
        group="0",
        outputs=outputs,
    )
    if counts.empty:
        return {}
    matrix, loss = confusion(counts, len(outputs.probabilities))
    return multiclass_metrics(matrix, loss, list(outputs.probabilities))
