"""Calibration of a multiclass version's class probabilities, learnt on its reference rows that
carry outcomes, as NannyML's multiclass CBPE calibrates them: per class, a one-vs-rest isotonic
regression of "the actual class is j" on p_j, then each row's mapped probabilities divided by
their sum (all classes alike, 1/k, where every map gives 0).

A class's map is used only where it helps on rows it was not fitted on, as NannyML's
needs_calibration decides: the labelled reference rows are cut into FOLDS folds by row number,
each fold is mapped by the calibration fitted on the others, and the map is kept if the held-out
rows' expected calibration error (over ten groups of equal mass) is lower mapped than raw. A
class also keeps its raw probability when fewer than MIN_CLASS_LABELS labelled reference rows
are of it, or of the other classes: an isotonic step fitted on fewer follows their noise.
Unlike NannyML, a class whose probabilities separate it (ROC AUC above 0.999) is calibrated
too: separating says nothing of the level, and a random forest's digits, kept raw so, were
estimated 0.85 accurate where they were 0.95.

Rows are counted per class, fold and probability bin in SQL; the maps are fitted on those small
arrays in NumPy (core.monitoring.isotonic, scikit-learn's numbers without importing it), and a
window's rows are mapped in SQL by each map's breakpoints (linear between them, as np.interp).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from core.monitoring.isotonic import isotonic_fit
from core.monitoring.performance_statistics import SCORE_BINS
from core.registry.classes import ClassOutputs, class_position_sql
from core.store import Model, ModelVersion, Work, log_tables

FOLDS = 10
ECE_GROUPS = 10
MIN_CLASS_LABELS = 30


@dataclass(frozen=True)
class ClassMap:
    """One class's isotonic map as breakpoints (probability in, calibrated probability out)."""

    x: tuple[float, ...]
    y: tuple[float, ...]

    def sql(self, column: str) -> str:
        """SQL mapping COLUMN through the breakpoints, clipped to their ends."""
        x, y = self.x, self.y
        parts = [f"WHEN {column} <= {x[0]!r} THEN {y[0]!r}"]
        for i in range(1, len(x)):
            if y[i] == y[i - 1]:
                parts.append(f"WHEN {column} <= {x[i]!r} THEN {y[i]!r}")
            else:
                slope = (y[i] - y[i - 1]) / (x[i] - x[i - 1])
                parts.append(
                    f"WHEN {column} <= {x[i]!r} THEN {y[i - 1]!r} + ({column} - {x[i - 1]!r}) "
                    f"* {slope!r}"
                )
        return f"(CASE {' '.join(parts)} ELSE {y[-1]!r} END)"

    def __call__(self, p: np.ndarray) -> np.ndarray:
        x = np.array(self.x)
        return np.interp(np.clip(p, x[0], x[-1]), x, np.array(self.y))


@dataclass(frozen=True)
class ClassCalibration:
    """Each class's map (None: its raw probability is used) and why a class was kept raw."""

    classes: tuple[str, ...]
    maps: tuple[ClassMap | None, ...]
    labelled: int  # labelled reference rows the maps were learnt on
    learnt_on: tuple[int, ...]  # of which predicted as each class
    kept_raw: tuple[tuple[str, str], ...]  # (class, reason) for each class without a map

    def probabilities_sql(self, columns: list[str]) -> list[str]:
        """SQL of each class's calibrated probability, from the rows' probability COLUMNS."""
        if all(m is None for m in self.maps):
            return list(columns)
        mapped = [c if m is None else m.sql(c) for c, m in zip(columns, self.maps, strict=True)]
        total = " + ".join(mapped)
        k = len(columns)
        return [f"(CASE WHEN {total} > 0 THEN {m} / ({total}) ELSE {1 / k!r} END)" for m in mapped]

    def basis(self) -> str:
        """How the estimate reads the probabilities, in a few words."""
        calibrated = sum(m is not None for m in self.maps)
        if not self.labelled:
            return "logged probabilities as they are: the reference has no outcomes"
        learnt = f"{self.labelled:,} reference rows with outcomes"
        if calibrated == len(self.maps):
            return f"probabilities calibrated on {learnt}"
        if not calibrated:
            return f"logged probabilities as they are, checked on {learnt}: " + self._raw()
        return (
            f"probabilities of {calibrated} of {len(self.maps)} classes calibrated on {learnt}; "
            + self._raw()
        )

    def _raw(self) -> str:
        reasons: dict[str, list[str]] = {}
        for name, why in self.kept_raw:
            reasons.setdefault(why, []).append(name)
        return "; ".join(f"{', '.join(names)} kept raw ({why})" for why, names in reasons.items())


def reference_class_counts(
    w: Work, *, model: Model, version: ModelVersion, outputs: ClassOutputs
) -> pd.DataFrame:
    """Labelled reference rows per class, fold and bin of that class's probability: n, the
    probability's sum, and the rows of that class."""
    assert model.id is not None
    table = log_tables.ref_table(model.id)
    parts = []
    for j, feature in enumerate(outputs.probabilities.values()):
        p = feature.column
        parts.append(
            f"SELECT {j} AS class, CAST(row_no % {FOLDS} AS INTEGER) AS fold, "
            f"CAST(least(greatest(floor({p} * {SCORE_BINS}), 0), {SCORE_BINS - 1}) AS INTEGER) "
            f"AS bin, count(*) AS n, sum({p}) AS s, "
            f"sum(CASE WHEN CAST(y AS INTEGER) = {j} THEN 1 ELSE 0 END) AS positives "
            f"FROM {table} WHERE version = ? AND y IS NOT NULL GROUP BY 1, 2, 3"
        )
    return w.frame(" UNION ALL ".join(parts), [version.version] * len(parts))


def fit_class_calibration(
    w: Work, *, model: Model, version: ModelVersion, outputs: ClassOutputs
) -> ClassCalibration:
    """VERSION's calibration, learnt on its labelled reference rows."""
    assert model.id is not None
    counts = reference_class_counts(w, model=model, version=version, outputs=outputs)
    classes = list(outputs.probabilities)
    position = class_position_sql(outputs.predicted.column, classes)
    predicted = dict(
        w.rows(
            f"SELECT {position}, count(*) FROM {log_tables.ref_table(model.id)} "
            "WHERE version = ? AND y IS NOT NULL GROUP BY 1",
            [version.version],
        )
    )
    learnt_on = [int(predicted.get(i, 0)) for i in range(len(classes))]
    return calibration_from_counts(counts, classes, learnt_on)


def calibration_from_counts(
    counts: pd.DataFrame, classes: list[str], learnt_on: list[int]
) -> ClassCalibration:
    """The calibration of CLASSES from reference_class_counts' rows; LEARNT_ON: the labelled
    reference rows predicted as each class."""
    maps: list[ClassMap | None] = []
    kept_raw: list[tuple[str, str]] = []
    labelled = 0
    for j, name in enumerate(classes):
        n, s, pos = _dense(counts[counts["class"] == j])
        labelled = int(n.sum())
        found, why = _class_map(n, s, pos)
        maps.append(found)
        if why:
            kept_raw.append((name, why))
    return ClassCalibration(
        tuple(classes), tuple(maps), labelled, tuple(learnt_on), tuple(kept_raw)
    )


def _dense(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Arrays fold x bin of rows, probability sums and positives."""
    arrays = [np.zeros((FOLDS, SCORE_BINS)) for _ in range(3)]
    at = (frame["fold"].to_numpy(int), frame["bin"].to_numpy(int))
    for arr, col in zip(arrays, ("n", "s", "positives"), strict=True):
        np.add.at(arr, at, frame[col].to_numpy(float))
    return arrays[0], arrays[1], arrays[2]


def _class_map(n: np.ndarray, s: np.ndarray, pos: np.ndarray) -> tuple[ClassMap | None, str]:
    """One class's map fitted on all folds, or None and the reason it is kept raw."""
    positives = pos.sum()
    if min(positives, n.sum() - positives) < MIN_CLASS_LABELS:
        return None, f"fewer than {MIN_CLASS_LABELS} reference outcomes of it or of the others"
    total_n, total_pos = n.sum(axis=0), pos.sum(axis=0)
    held_raw, held_mapped, held_n, held_pos = [], [], [], []
    for fold in range(FOLDS):
        train = _fit(total_n - n[fold], s.sum(axis=0) - s[fold], total_pos - pos[fold])
        has = n[fold] > 0
        if train is None or not has.any():
            continue
        mean = s[fold][has] / n[fold][has]
        held_raw.append(mean)
        held_mapped.append(train(mean))
        held_n.append(n[fold][has])
        held_pos.append(pos[fold][has])
    weights, outcomes = np.concatenate(held_n), np.concatenate(held_pos)
    raw = _ece(np.concatenate(held_raw), weights, outcomes)
    mapped = _ece(np.concatenate(held_mapped), weights, outcomes)
    if not mapped < raw:
        return None, "calibrating did not help on held-out reference rows"
    found = _fit(total_n, s.sum(axis=0), total_pos)
    assert found is not None
    return found, ""


def _fit(n: np.ndarray, s: np.ndarray, pos: np.ndarray) -> ClassMap | None:
    has = n > 0
    if not has.any():
        return None
    x = s[has] / n[has]
    fitted = isotonic_fit(x, pos[has] / n[has], n[has], y_min=0.0, y_max=1.0)
    # Every breakpoint of the map is one of the fitted X, so the map at each distinct X, less
    # the points inside a flat run, is the same function.
    points = np.unique(x)
    values = fitted(points)
    needed = np.ones(len(points), dtype=bool)
    needed[1:-1] = (values[1:-1] != values[:-2]) | (values[1:-1] != values[2:])
    return ClassMap(tuple(points[needed].tolist()), tuple(values[needed].tolist()))


def _ece(value: np.ndarray, n: np.ndarray, positives: np.ndarray) -> float:
    """Expected calibration error over ECE_GROUPS groups of equal mass, sorted by VALUE."""
    order = np.argsort(value, kind="stable")
    value, n, positives = value[order], n[order], positives[order]
    middle = (np.cumsum(n) - n / 2) / n.sum()
    group = np.minimum((middle * ECE_GROUPS).astype(int), ECE_GROUPS - 1)
    gap = np.bincount(group, n * value, ECE_GROUPS) - np.bincount(group, positives, ECE_GROUPS)
    return float(np.abs(gap).sum() / n.sum())
