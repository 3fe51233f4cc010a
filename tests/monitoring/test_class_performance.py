"""Multiclass performance per window: realized metrics equal scikit-learn's on its bundled data
sets with real models, and the estimate from the probabilities holds within its band under
covariate shift but not under concept drift."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression

from core.ingest import ingest_labels
from core.monitoring import class_performance
from core.monitoring.class_calibration import ClassCalibration, fit_class_calibration
from core.monitoring.performance import performance_by_window
from core.monitoring.windows import WindowSpec
from core.registry import get_model, get_version
from core.registry.classes import class_outputs
from core.store import Store
from tests.multiclass_cases import (
    MulticlassCase,
    bundled_case,
    calibrated_probabilities,
    logged,
    simulated_case,
)

DAILY = WindowSpec.parse("D")


def _monitored(store: Store, case: MulticlassCase, *, labels: Path | None = None) -> None:
    logged(store, case)
    ingest_labels(store, model="m", files=[case.labels] if labels is None else [labels])


def _calibration(w: Any, *, model: Any, version: Any, spec: WindowSpec) -> ClassCalibration:
    outputs = class_outputs(version)
    assert outputs is not None
    return fit_class_calibration(w, model=model, version=version, outputs=outputs)


def _read(store: Store, query: Any) -> Any:
    with store.read() as r:
        model = get_model(r, name="m")
        version = get_version(r, model=model, version=1)
        return query(r, model=model, version=version, spec=DAILY)


CASES = [
    ("iris", LogisticRegression(max_iter=1000)),
    ("iris", RandomForestClassifier(n_estimators=30, random_state=0)),
    ("wine", RandomForestClassifier(n_estimators=30, random_state=0)),
    ("wine", LogisticRegression(max_iter=5000)),
    ("digits", LogisticRegression(max_iter=2000)),
    ("digits", RandomForestClassifier(n_estimators=30, random_state=0)),
]


@pytest.mark.parametrize(
    ("data", "model"), CASES, ids=[f"{d}-{type(m).__name__}" for d, m in CASES]
)
def test_realized_metrics_and_confusion_per_window_equal_scikit_learns(
    store: Store, tmp_path: Path, data: str, model: object
) -> None:
    case = bundled_case(tmp_path / data, data=data, model=model)
    labelled = case.logs_frame.iloc[[i for i in range(len(case.logs_frame)) if i % 4]]
    labelled[["request_id", "kind"]].to_csv(tmp_path / "some_labels.csv", index=False)
    _monitored(store, case, labels=tmp_path / "some_labels.csv")

    realized = _read(store, class_performance.realized_by_window)
    confusion = _read(store, class_performance.confusion_by_window)
    calibration = _read(store, _calibration)

    classes = case.classes
    days = labelled["timestamp"].dt.tz_localize(None).dt.floor("D")
    assert realized["window_start"].nunique() == days.nunique() == 6
    for day, rows in labelled.groupby(days):
        got = realized[realized["window_start"] == day].set_index("metric")["realized"]
        y, predicted = rows["kind"].astype(str), rows["predicted"].astype(str)
        proba = rows[[f"p_{c}" for c in classes]].to_numpy()
        precision, recall, _, _ = skm.precision_recall_fscore_support(
            y, predicted, labels=classes, zero_division=0
        )
        expected = {
            "accuracy": skm.accuracy_score(y, predicted),
            "macro_f1": skm.f1_score(
                y, predicted, labels=classes, average="macro", zero_division=0
            ),
            "weighted_f1": skm.f1_score(
                y, predicted, labels=classes, average="weighted", zero_division=0
            ),
            "log_loss": skm.log_loss(y, proba, labels=classes),
            **{f"precision:{c}": p for c, p in zip(classes, precision, strict=True)},
            **{f"recall:{c}": r for c, r in zip(classes, recall, strict=True)},
        }
        assert got.to_dict() == pytest.approx(expected, rel=1e-9, abs=1e-12)
        window = confusion[confusion["window_start"] == day]
        matrix = window.pivot(index="actual", columns="predicted", values="realized")
        assert (
            matrix.loc[classes, classes].to_numpy().tolist()
            == skm.confusion_matrix(y, predicted, labels=classes).tolist()
        )
        # Expected: each class's calibrated probability summed over the window's rows
        # predicted so, the maps applied in NumPy as np.interp and renormalised.
        logged = case.logs_frame[
            case.logs_frame["timestamp"].dt.tz_localize(None).dt.floor("D") == day
        ]
        q = calibrated_probabilities(calibration, logged[[f"p_{c}" for c in classes]].to_numpy())
        sums = pd.DataFrame(q, columns=classes).groupby(logged["predicted"].astype(str).values)
        exp = window.pivot(index="predicted", columns="actual", values="expected")
        expected_sums = sums.sum().reindex(classes, fill_value=0.0)
        np.testing.assert_allclose(
            exp.loc[classes, classes].to_numpy(), expected_sums.to_numpy(), atol=1e-9
        )


def _accuracy(store: Store) -> pd.DataFrame:
    found = _read(store, performance_by_window)
    return found[found["metric"] == "accuracy"].reset_index(drop=True)


def _inside(rows: pd.DataFrame) -> pd.Series:
    return (rows["realized"] >= rows["estimated_lower"]) & (
        rows["realized"] <= rows["estimated_upper"]
    )


def test_under_covariate_shift_realized_accuracy_lies_within_the_estimates_band(
    store: Store, tmp_path: Path
) -> None:
    _monitored(store, simulated_case(tmp_path, shift=2.5, concept_drift=False))

    accuracy = _accuracy(store)

    assert len(accuracy) == 20 and (accuracy["n_labeled"] == 400).all()
    assert _inside(accuracy).mean() >= 0.9
    # The shift moved accuracy itself, so the estimate had something to follow.
    assert abs(accuracy["realized"].iloc[-3:].mean() - accuracy["realized"].iloc[:3].mean()) > 0.05
    width = accuracy["estimated_upper"] - accuracy["estimated_lower"]
    assert width.between(0.03, 0.15).all()  # about 4 sd of a 400-row mean


def test_under_concept_drift_realized_accuracy_leaves_the_band_and_raises_the_alert(
    store: Store, tmp_path: Path
) -> None:
    _monitored(store, simulated_case(tmp_path, shift=0.0, concept_drift=True))

    accuracy = _accuracy(store)

    before, after = accuracy.iloc[:10], accuracy.iloc[10:]
    assert _inside(before).mean() >= 0.9
    assert not _inside(after).any()
    assert (after["realized"] < after["estimated_lower"]).all()
    assert after["alert"].all() and not before["alert"].any()


def test_windows_of_a_fixed_number_of_rows_are_measured_like_calendar_ones(
    store: Store, tmp_path: Path
) -> None:
    case = bundled_case(tmp_path / "iris", data="iris", model=LogisticRegression(max_iter=1000))
    _monitored(store, case)

    with store.read() as r:
        model = get_model(r, name="m")
        version = get_version(r, model=model, version=1)
        realized = class_performance.realized_by_window(
            r, model=model, version=version, spec=WindowSpec.parse(chunk_size=30)
        )

    accuracy = realized[realized["metric"] == "accuracy"]
    logged = case.logs_frame  # in time order
    right = (logged["kind"] == logged["predicted"]).to_numpy()
    assert accuracy["n_labeled"].tolist() == [30, 30, 15]
    assert accuracy["realized"].tolist() == pytest.approx(
        [right[:30].mean(), right[30:60].mean(), right[60:].mean()]
    )
