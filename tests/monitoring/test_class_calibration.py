"""The multiclass estimate reads calibrated probabilities: real scikit-learn models on its
bundled data sets, the model fitted on one part, the reference held out, logs from the rest."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression

from core.monitoring import class_performance
from core.monitoring.class_calibration import calibration_from_counts
from core.monitoring.performance_statistics import SCORE_BINS
from core.monitoring.windows import WindowSpec
from core.registry import get_model, get_version
from core.store import Store
from tests.monitoring.test_class_performance import _monitored
from tests.multiclass_cases import held_out_case

ALL_LOGS = WindowSpec.parse(chunk_size=100_000)


def _models() -> dict[str, Any]:
    return {
        "RandomForest": RandomForestClassifier(n_estimators=30, random_state=0),
        "LogisticRegression": LogisticRegression(max_iter=5000),
        "HistGradientBoosting": HistGradientBoostingClassifier(max_iter=50, random_state=0),
    }


def _accuracy(store: Store, spec: WindowSpec) -> pd.DataFrame:
    """Estimated accuracy with its band, and realized however few the labels, per window."""
    with store.read() as r:
        model = get_model(r, name="m")
        version = get_version(r, model=model, version=1)
        perf = class_performance.performance_by_window(r, model=model, version=version, spec=spec)
        realized = class_performance.realized_by_window(r, model=model, version=version, spec=spec)
    found = perf[perf["metric"] == "accuracy"].drop(columns="realized")
    measured = realized[realized["metric"] == "accuracy"][["window_start", "realized"]]
    return found.merge(measured, on="window_start").reset_index(drop=True)


def _inside(rows: pd.DataFrame) -> pd.Series:
    return (rows["realized"] >= rows["estimated_lower"]) & (
        rows["realized"] <= rows["estimated_upper"]
    )


# Iris's and wine's references hold 50-59 rows: fewer than 30 outcomes per class, so their
# rows' highest probabilities are calibrated instead (wine's forest: 0.87 raw, 1.0 realized).
CASES = [
    (data, name)
    for data in ("iris", "wine", "digits")
    for name in ("RandomForest", "LogisticRegression", "HistGradientBoosting")
]


@pytest.mark.parametrize(("data", "name"), CASES)
def test_estimated_accuracy_holds_the_realized_within_its_band_without_concept_drift(
    store: Store, tmp_path: Path, data: str, name: str
) -> None:
    _monitored(store, held_out_case(tmp_path, data=data, model=_models()[name]))

    [row] = _accuracy(store, ALL_LOGS).itertuples()

    assert row.estimated_lower <= row.realized <= row.estimated_upper
    assert row.estimated_upper - row.estimated_lower < 0.25


def test_a_random_forests_underconfident_probabilities_are_calibrated_on_digits(
    store: Store, tmp_path: Path
) -> None:
    case = held_out_case(tmp_path, data="digits", model=_models()["RandomForest"])
    _monitored(store, case)

    [row] = _accuracy(store, ALL_LOGS).itertuples()

    logged = case.logs_frame
    raw = logged[[f"p_{c}" for c in case.classes]].max(axis=1).mean()
    assert row.realized - raw > 0.08  # the logged probabilities alone would be far off
    assert abs(row.estimated - row.realized) < 0.02
    assert row.estimate_basis == "probabilities calibrated on 599 reference rows with outcomes"


def test_a_reference_too_small_for_each_class_calibrates_the_top_probability_and_says_so(
    store: Store, tmp_path: Path
) -> None:
    from core.monitoring.class_calibration import fit_class_calibration
    from core.registry import get_model, get_version
    from core.registry.classes import class_outputs

    case = held_out_case(tmp_path, data="iris", model=_models()["LogisticRegression"])
    _monitored(store, case)

    [row] = _accuracy(store, ALL_LOGS).itertuples()

    with store.read() as r:
        model = get_model(r, name="m")
        version = get_version(r, model=model, version=1)
        outputs = class_outputs(version)
        assert outputs is not None
        calibration = fit_class_calibration(r, model=model, version=version, outputs=outputs)
    assert calibration.top is not None and all(m is None for m in calibration.maps)
    top = case.logs_frame[[f"p_{c}" for c in case.classes]].max(axis=1).to_numpy()
    assert row.estimated == pytest.approx(calibration.top(top).mean(), rel=1e-9)
    assert row.estimate_basis == (
        "each row's highest probability calibrated on 50 reference rows with outcomes (too few "
        "outcomes to calibrate each class: setosa, versicolor, virginica kept raw (fewer than 30 "
        "reference outcomes of it or of the others))"
    )


def test_after_a_concept_change_realized_accuracy_leaves_the_estimates_band(
    store: Store, tmp_path: Path
) -> None:
    case = held_out_case(tmp_path, data="digits", model=_models()["LogisticRegression"])
    logged = case.logs_frame
    changed = logged["timestamp"] >= logged["timestamp"].min() + pd.Timedelta(days=3)
    swap = {"0": "1", "1": "2", "2": "3", "3": "0"}  # four of ten digits relabelled
    kind = logged["kind"].astype(str)
    labels = logged.assign(kind=kind.where(~changed, kind.replace(swap)))
    labels[["request_id", "kind"]].to_csv(tmp_path / "changed.csv", index=False)
    _monitored(store, case, labels=tmp_path / "changed.csv")

    accuracy = _accuracy(store, WindowSpec.parse("D"))

    before, after = accuracy.iloc[:3], accuracy.iloc[3:]
    assert len(after) == 3
    assert _inside(before).sum() >= 2  # a 95% band may miss one window in twenty
    assert (after["realized"] < after["estimated_lower"] - 0.1).all()


def test_each_class_map_is_scikit_learns_isotonic_regression_on_the_same_bins() -> None:
    rng = np.random.default_rng(3)
    p = rng.uniform(0, 1, 4000)
    y = rng.uniform(0, 1, 4000) < p**0.5  # under-confident
    bins = np.minimum((p * SCORE_BINS).astype(int), SCORE_BINS - 1)
    counts = (
        pd.DataFrame({"bin": bins, "p": p, "y": y})
        .groupby("bin", as_index=False)
        .agg(n=("p", "size"), s=("p", "sum"), positives=("y", "sum"))
        .assign(**{"class": 0})
    )

    [found] = calibration_from_counts(counts, ["a"], [4000]).maps

    expected = IsotonicRegression(y_min=0, y_max=1, out_of_bounds="clip").fit(
        counts["s"] / counts["n"], counts["positives"] / counts["n"], sample_weight=counts["n"]
    )
    t = np.linspace(-0.1, 1.1, 500)
    assert found is not None
    np.testing.assert_array_equal(found(t), expected.predict(t))


def test_a_class_with_few_reference_outcomes_keeps_its_raw_probability() -> None:
    counts = pd.DataFrame(
        {"class": [0, 0, 1, 1], "bin": [20, 180, 20, 180], "n": [40, 40, 40, 40],
         "s": [4.0, 36.0, 4.0, 36.0], "positives": [20, 5, 2, 38]}
    )  # fmt: skip

    calibration = calibration_from_counts(counts, ["rare", "common"], [40, 40])

    assert calibration.maps[0] is None and calibration.maps[1] is not None
    assert calibration.basis() == (
        "probabilities of 1 of 2 classes calibrated on 80 reference rows with outcomes; rare "
        "kept raw (fewer than 30 reference outcomes of it or of the others)"
    )
