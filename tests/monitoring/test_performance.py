"""Performance per window: realized against scikit-learn, the label-free estimate, the band."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm

from core.auth import Identity
from core.ingest import ingest_labels, ingest_predictions
from core.monitoring.performance import (
    BINARY_METRICS,
    MIN_LABELLED,
    band,
    performance_by_window,
    realized_note,
)
from core.monitoring.windows import WindowSpec
from core.registry import RegistrationSpec, get_model, get_version, register_version
from core.store import Store
from core.value import business_case
from tests.factories import Case

WEEKS = ["2026-03-02", "2026-03-09", "2026-03-16", "2026-03-23", "2026-03-30"]
PER_WEEK = 2000
OWNER = Identity("olga", "product_owner")


def _calibrated(rng: np.random.Generator, n: int, shift: float = 0.0) -> pd.DataFrame:
    """Rows whose score is the true probability of the outcome (plus SHIFT after a change)."""
    x = rng.normal(0, 1, n)
    score = 1 / (1 + np.exp(-(-1.5 + 1.2 * x)))
    outcome = rng.random(n) < np.clip(score + shift, 0, 1)
    return pd.DataFrame({"x": x, "score": score, "target": outcome.astype(int)})


def _binary_model(store: Store, folder: Path, name: str, shift: float) -> pd.DataFrame:
    """Register NAME and log five weeks; labels for every other row of weeks 1-3, 60 in week 4."""
    rng = np.random.default_rng(7)
    _calibrated(rng, 4000).to_parquet(folder / f"{name}-reference.parquet")
    register_version(store, spec=RegistrationSpec(
        model=name, reference=folder / f"{name}-reference.parquet", target="target",
        prediction="score", task="binary",
    ))  # fmt: skip
    weeks = []
    for week in WEEKS:
        rows = _calibrated(rng, PER_WEEK, shift)
        rows["timestamp"] = pd.date_range(week, periods=PER_WEEK, freq="5min", tz="UTC")
        weeks.append(rows.assign(week=week))
    logged = pd.concat(weeks, ignore_index=True)
    logged["request_id"] = [f"{name}-{i}" for i in range(len(logged))]
    logged.drop(columns=["target", "week"]).to_parquet(folder / f"{name}-logs.parquet")
    labelled = logged[(logged["week"].isin(WEEKS[:3]) & (logged.index % 2 == 0))]
    labelled = pd.concat([labelled, logged[logged["week"] == WEEKS[3]].iloc[:60]])
    labelled[["request_id", "target"]].to_csv(folder / f"{name}-labels.csv", index=False)
    ingest_predictions(store, model=name, files=[folder / f"{name}-logs.parquet"])
    ingest_labels(store, model=name, files=[folder / f"{name}-labels.csv"])
    return labelled


def _performance(store: Store, name: str, period: str = "W") -> pd.DataFrame:
    with store.read() as r:
        model = get_model(r, name=name)
        return performance_by_window(
            r, model=model, version=get_version(r, model=model), spec=WindowSpec.parse(period)
        )


@dataclass(frozen=True)
class Steady:
    """A calibrated model without concept change: its store, labelled rows and performance."""

    store: Store
    labelled: pd.DataFrame
    perf: pd.DataFrame


@pytest.fixture(scope="module")
def steady(tmp_path_factory: pytest.TempPathFactory) -> Steady:
    folder = tmp_path_factory.mktemp("performance")
    store = Store(folder / "store.duckdb", lock_wait_seconds=10)
    store.init()
    labelled = _binary_model(store, folder, "steady", shift=0.0)
    return Steady(store, labelled, _performance(store, "steady"))


def _window(perf: pd.DataFrame, week: str) -> pd.DataFrame:
    return perf[perf["window_start"] == pd.Timestamp(week)].set_index("metric")


@pytest.mark.parametrize("week", WEEKS[:3])
def test_realized_metrics_equal_scikit_learns_on_the_same_labelled_rows(
    steady: Steady, week: str
) -> None:
    perf, labelled = steady.perf, steady.labelled
    rows = labelled[labelled["week"] == week]
    y, score = rows["target"], rows["score"]
    decided = (score >= 0.5).astype(int)

    realized = _window(perf, week)["realized"]

    # Scores are counted in 200 bins; two scores in one bin count as a tie for ROC AUC.
    assert realized["roc_auc"] == pytest.approx(skm.roc_auc_score(y, score), abs=0.002)
    # The 0.5 threshold is a bin edge, so the confusion matrix is exact.
    assert realized[["precision", "recall", "f1", "accuracy"]].to_dict() == pytest.approx(
        {
            "precision": skm.precision_score(y, decided),
            "recall": skm.recall_score(y, decided),
            "f1": skm.f1_score(y, decided),
            "accuracy": skm.accuracy_score(y, decided),
        },
        rel=1e-9,
    )


def test_the_confusion_matrix_is_taken_at_the_business_cases_threshold(steady: Steady) -> None:
    business_case.save(steady.store, model="steady", changes={"threshold": "0.3"}, by=OWNER)
    rows = steady.labelled[steady.labelled["week"] == WEEKS[0]]
    y, decided = rows["target"], (rows["score"] >= 0.3).astype(int)

    realized = _window(_performance(steady.store, "steady"), WEEKS[0])["realized"]

    assert realized[["precision", "recall", "f1", "accuracy"]].to_dict() == pytest.approx(
        {
            "precision": skm.precision_score(y, decided),
            "recall": skm.recall_score(y, decided),
            "f1": skm.f1_score(y, decided),
            "accuracy": skm.accuracy_score(y, decided),
        },
        rel=1e-9,
    )
    assert realized["recall"] > _window(steady.perf, WEEKS[0]).loc["recall", "realized"]


def test_each_window_reports_every_binary_metric_with_its_counts(steady: Steady) -> None:
    perf = steady.perf

    assert perf.groupby("window_start")["metric"].apply(list).map(tuple).unique().tolist() == [
        BINARY_METRICS
    ]
    counts = perf.drop_duplicates("window_start").set_index("window_start")
    assert counts["n"].tolist() == [PER_WEEK] * 5
    assert counts["n_labeled"].tolist() == [1000, 1000, 1000, 60, 0]
    assert counts["window_end"].tolist() == [pd.Timestamp(w) + pd.Timedelta(days=7) for w in WEEKS]


def test_windows_with_too_few_labels_show_only_the_estimate(steady: Steady) -> None:
    perf = steady.perf
    assert MIN_LABELLED == 100

    for week in WEEKS[3:]:
        window = _window(perf, week)
        assert window["realized"].isna().all()
        assert window["estimated"].notna().all()
        assert not window["alert"].any()


@pytest.mark.parametrize("week", WEEKS[:3])
def test_the_estimate_agrees_with_realized_within_the_band_without_concept_change(
    steady: Steady, week: str
) -> None:
    window = _window(steady.perf, week)
    half_band = (window["upper"] - window["lower"]) / 2

    gap = (window["estimated"] - window["realized"]).abs()

    assert (gap <= half_band).all(), pd.concat([gap, half_band], axis=1)
    assert not window["alert"].any()


def test_a_calibrated_models_calibration_error_stays_small_and_inside_its_band(
    steady: Steady,
) -> None:
    calibration = steady.perf[steady.perf["metric"] == "calibration_error"]

    assert calibration["realized"].dropna().max() < 0.04
    assert calibration["estimated"].max() < 0.02
    assert not calibration["alert"].any()


def test_small_windows_do_not_make_a_calibrated_model_look_miscalibrated(steady: Steady) -> None:
    # Daily windows hold 144 labels, about 14 per score group: label noise alone lifts the
    # calibration error several times above the reference's, and the band is centred there.
    daily = _performance(steady.store, "steady", period="D")
    calibration = daily[(daily["metric"] == "calibration_error") & daily["realized"].notna()]
    centre = (calibration["lower"] + calibration["upper"]) / 2
    reference = _window(steady.perf, WEEKS[4]).loc["calibration_error"]

    assert len(calibration) >= 20 and calibration["n_labeled"].max() <= 144
    assert calibration["realized"].median() > 3 * (reference["lower"] + reference["upper"]) / 2
    assert centre.mean() == pytest.approx(calibration["realized"].mean(), rel=0.25)
    assert not calibration["alert"].any()


def test_the_band_is_the_reference_value_plus_or_minus_three_standard_errors(
    steady: Steady,
) -> None:
    window = _window(steady.perf, WEEKS[0])
    centre = (window["upper"] + window["lower"]) / 2

    accuracy = centre["accuracy"]
    expected = 3 * math.sqrt(accuracy * (1 - accuracy) / 1000)
    assert window.loc["accuracy", "upper"] - accuracy == pytest.approx(expected, rel=1e-9)
    # Without labels the band is drawn for the window's rows: narrower than for 1,000 labels.
    unlabelled = _window(steady.perf, WEEKS[4]).drop("calibration_error")
    labelled = window.drop("calibration_error")
    assert (unlabelled["upper"] - unlabelled["lower"] < labelled["upper"] - labelled["lower"]).all()


def test_a_concept_change_shows_in_realized_calibration_but_not_in_the_estimate(
    store: Store, tmp_path: Path
) -> None:
    # Same inputs and scores, but every outcome is 12 points likelier than the score says.
    _binary_model(store, tmp_path, "changed", shift=0.12)

    perf = _performance(store, "changed")

    calibration = perf[perf["metric"] == "calibration_error"].set_index("window_start")
    measured = calibration["realized"].notna()
    assert measured.sum() == 3
    assert (calibration.loc[measured, "realized"] > 0.09).all()
    assert calibration.loc[measured, "alert"].all()
    assert (calibration["estimated"] < 0.02).all()
    accuracy = perf[(perf["metric"] == "accuracy") & perf["realized"].notna()]
    assert (accuracy["realized"] < accuracy["estimated"]).all()


def test_regression_errors_are_exact_on_the_labelled_rows(
    store: Store, regression_files: Case
) -> None:
    register_version(store, spec=RegistrationSpec(
        model="loss", reference=regression_files.reference, target="loss", prediction="predicted",
    ))  # fmt: skip
    ingest_predictions(store, model="loss", files=[regression_files.logs])
    ingest_labels(store, model="loss", files=[regression_files.labels])
    y = pd.read_csv(regression_files.labels)["loss"].to_numpy()
    predicted = regression_files.frame["predicted"].to_numpy()

    perf = _performance(store, "loss", period="M").set_index("metric")

    assert perf["n"].tolist() == perf["n_labeled"].tolist() == [200, 200, 200]
    assert perf["realized"].to_dict() == pytest.approx(
        {
            "mae": skm.mean_absolute_error(y, predicted),
            "rmse": math.sqrt(skm.mean_squared_error(y, predicted)),
            "mape": skm.mean_absolute_percentage_error(y, predicted),
        },
        rel=1e-9,
    )
    # MAE and RMSE are estimated from the inputs too (tests/monitoring/test_regression_estimate.py).
    assert perf["estimated"].notna().to_dict() == {"mae": True, "rmse": True, "mape": False}
    assert (perf["lower"] < perf["upper"]).all()


def test_a_reference_without_outcomes_still_measures_production_labels(
    tmp_path: Path,
) -> None:
    store = Store(tmp_path / "store.duckdb", lock_wait_seconds=10)
    store.init()
    rng = np.random.default_rng(3)
    blank = _calibrated(rng, 500).astype({"target": "Int64"}).assign(target=pd.NA)
    blank.to_parquet(tmp_path / "blank-reference.parquet")
    register_version(store, spec=RegistrationSpec(
        model="blank", reference=tmp_path / "blank-reference.parquet", target="target",
        prediction="score", task="binary",
    ))  # fmt: skip
    logged = _calibrated(rng, 400)
    logged["timestamp"] = pd.date_range(WEEKS[0], periods=400, freq="15min", tz="UTC")
    logged["request_id"] = [f"blank-{i}" for i in range(400)]
    logged.drop(columns=["target"]).to_parquet(tmp_path / "logs.parquet")
    logged[["request_id", "target"]].to_csv(tmp_path / "labels.csv", index=False)
    ingest_predictions(store, model="blank", files=[tmp_path / "logs.parquet"])
    ingest_labels(store, model="blank", files=[tmp_path / "labels.csv"])

    perf = _window(_performance(store, "blank"), WEEKS[0])

    decided = (logged["score"] >= 0.5).astype(int)
    assert perf.loc["accuracy", "realized"] == pytest.approx(
        skm.accuracy_score(logged["target"], decided), rel=1e-9
    )
    # No calibration and no normal range without reference outcomes: nothing estimated or judged.
    assert perf["estimated"].isna().all()
    assert perf[["lower", "upper"]].isna().all().all()
    assert not perf["alert"].any()


@pytest.mark.parametrize(
    ("metric", "centre", "se", "expected"),
    [
        ("roc_auc", 0.99, 0.01, (0.96, 1.0)),
        ("precision", 0.02, 0.01, (0.0, 0.05)),
        ("accuracy", 0.5, 0.4, (0.0, 1.0)),
        ("calibration_error", 0.01, 0.02, (0.0, 0.07)),
        ("mae", 20.0, 10.0, (0.0, 50.0)),
        ("rmse", 30.0, 1.0, (27.0, 33.0)),
        ("mape", 0.05, 0.1, (0.0, 0.35)),
    ],
)
def test_the_band_is_clipped_to_the_range_the_metric_can_take(
    metric: str, centre: float, se: float, expected: tuple[float, float]
) -> None:
    assert band(metric, centre, se) == pytest.approx(expected, abs=1e-12)


def test_a_band_without_a_reference_value_stays_unknown() -> None:
    assert all(math.isnan(v) for v in band("roc_auc", math.nan, math.nan))


def test_binary_bands_stay_between_zero_and_one(steady: Steady) -> None:
    calibration = steady.perf[steady.perf["metric"] == "calibration_error"]
    # Unclipped, 3 standard errors below this small calibration error would be below zero.
    assert calibration["lower"].min() == 0.0
    daily = _performance(steady.store, "steady", period="D")
    for perf in (steady.perf, daily):
        bounds = perf[["lower", "upper"]].to_numpy(float)
        assert ((bounds >= 0) & (bounds <= 1)).all()


def test_without_labels_regression_bands_are_drawn_for_the_windows_rows_and_stay_above_zero(
    store: Store, regression_files: Case
) -> None:
    register_version(store, spec=RegistrationSpec(
        model="loss", reference=regression_files.reference, target="loss", prediction="predicted",
    ))  # fmt: skip
    ingest_predictions(store, model="loss", files=[regression_files.logs])
    ref = pd.read_parquet(regression_files.reference)
    error = (ref["loss"] - ref["predicted"]).abs()

    perf = _performance(store, "loss", period="W")

    # No labels: the estimate is judged, so the band is 3 standard errors at the window's rows.
    assert (perf["n_labeled"] == 0).all()
    mae = perf[perf["metric"] == "mae"]
    assert mae["upper"].tolist() == pytest.approx(
        (error.mean() + 3 * error.std() / np.sqrt(mae["n"])).tolist(), rel=1e-9
    )
    # The smallest window's band would reach below zero unclipped.
    assert mae["n"].min() < 10
    assert (perf["lower"] >= 0.0).all() and (perf["lower"] == 0.0).any()


def test_the_note_says_why_windows_have_no_realized_value(steady: Steady) -> None:
    assert realized_note(steady.perf) == (
        f"Realized values need at least {MIN_LABELLED} labels per window; 2 of 5 windows "
        "have fewer, so only the estimate is shown there."
    )
    labelled = steady.perf[steady.perf["n_labeled"] >= MIN_LABELLED]
    assert realized_note(labelled) is None
