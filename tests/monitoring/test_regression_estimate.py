"""The label-free regression estimate on simulated data whose errors are known."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core.ingest import ingest_labels, ingest_predictions
from core.monitoring.performance import performance_by_window
from core.monitoring.windows import WindowSpec
from core.registry import RegistrationSpec, get_model, get_version, register_version
from core.store import Store

WEEKS = ["2026-03-02", "2026-03-09", "2026-03-16", "2026-03-23", "2026-03-30", "2026-04-06"]
STEADY, SHIFTED = WEEKS[:4], WEEKS[4:]
PER_WEEK = 2000


def _noise_sd(x1: np.ndarray) -> np.ndarray:
    """The model errs more the further x1 lies from zero."""
    return 0.5 + np.abs(x1)


def _rows(rng: np.random.Generator, n: int, centre: float = 0.0, spread: float = 1.0):
    """Rows whose prediction is the outcome's true mean: no concept drift, only noise."""
    x1 = rng.normal(centre, spread, n)
    x2 = rng.uniform(0, 1, n)
    segment = rng.choice(["retail", "sme"], n)
    predicted = 3 * x1 + 2 * x2
    return pd.DataFrame(
        {
            "x1": x1,
            "x2": x2,
            "segment": segment,
            "predicted": predicted,
            "amount": predicted + rng.normal(0, 1, n) * _noise_sd(x1),
        }
    )


def _expected(rows: pd.DataFrame) -> dict[str, float]:
    """MAE and RMSE a window of ROWS has on average: its noise is normal with a known sd."""
    sd = _noise_sd(rows["x1"].to_numpy())
    return {
        "mae": float(sd.mean() * math.sqrt(2 / math.pi)),
        "rmse": float(np.sqrt(np.mean(sd**2))),
    }


@dataclass(frozen=True)
class Simulated:
    """A registered regression model with six weeks of logs, the last two shifted."""

    store: Store
    logged: pd.DataFrame
    perf: pd.DataFrame


def _performance(store: Store, name: str) -> pd.DataFrame:
    with store.read() as r:
        model = get_model(r, name=name)
        return performance_by_window(
            r, model=model, version=get_version(r, model=model), spec=WindowSpec.parse("W")
        )


def _register_and_log(
    store: Store, folder: Path, name: str, reference: pd.DataFrame, logged: pd.DataFrame
) -> None:
    reference.to_parquet(folder / f"{name}-reference.parquet")
    register_version(store, spec=RegistrationSpec(
        model=name, reference=folder / f"{name}-reference.parquet", target="amount",
        prediction="predicted", task="regression",
    ))  # fmt: skip
    logged.drop(columns=["amount", "week"]).to_parquet(folder / f"{name}-logs.parquet")
    ingest_predictions(store, model=name, files=[folder / f"{name}-logs.parquet"])


@pytest.fixture(scope="module")
def simulated(tmp_path_factory: pytest.TempPathFactory) -> Simulated:
    folder = tmp_path_factory.mktemp("regression_estimate")
    store = Store(folder / "store.duckdb", lock_wait_seconds=10)
    store.init()
    rng = np.random.default_rng(11)
    weeks = []
    for week in WEEKS:
        # The last two weeks move x1 into a region where the noise is larger.
        rows = (
            _rows(rng, PER_WEEK, centre=1.5, spread=0.5)
            if week in SHIFTED
            else _rows(rng, PER_WEEK)
        )
        rows["timestamp"] = pd.date_range(week, periods=PER_WEEK, freq="5min", tz="UTC")
        weeks.append(rows.assign(week=week))
    logged = pd.concat(weeks, ignore_index=True)
    logged["request_id"] = [f"sim-{i}" for i in range(len(logged))]
    _register_and_log(store, folder, "amount", _rows(rng, 10_000), logged)
    # Outcomes arrive for every week but the last.
    labelled = logged[logged["week"] != WEEKS[-1]]
    labelled[["request_id", "amount"]].to_csv(folder / "labels.csv", index=False)
    ingest_labels(store, model="amount", files=[folder / "labels.csv"])
    return Simulated(store, logged, _performance(store, "amount"))


def _window(perf: pd.DataFrame, week: str) -> pd.DataFrame:
    return perf[perf["window_start"] == pd.Timestamp(week)].set_index("metric")


def test_mae_and_rmse_are_estimated_for_every_window_and_mape_is_not(
    simulated: Simulated,
) -> None:
    perf = simulated.perf

    estimated = perf.pivot(index="window_start", columns="metric", values="estimated")
    assert len(estimated) == len(WEEKS)
    assert estimated[["mae", "rmse"]].notna().all().all()
    assert estimated["mape"].isna().all()


@pytest.mark.parametrize("metric", ["mae", "rmse"])
def test_without_concept_drift_the_estimate_lies_within_the_band_of_the_realized_value(
    simulated: Simulated, metric: str
) -> None:
    rows = simulated.perf[(simulated.perf["metric"] == metric) & simulated.perf["realized"].notna()]
    half_band = (rows["upper"] - rows["lower"]) / 2

    gap = (rows["estimated"] - rows["realized"]).abs()

    assert len(rows) == 5
    assert (gap <= half_band).sum() >= 4, pd.concat([gap, half_band], axis=1)


@pytest.mark.parametrize("week", STEADY)
def test_the_estimate_is_close_to_the_error_the_known_noise_gives(
    simulated: Simulated, week: str
) -> None:
    rows = simulated.logged[simulated.logged["week"] == week]

    estimated = _window(simulated.perf, week)["estimated"]

    expected = _expected(rows)
    assert estimated["mae"] == pytest.approx(expected["mae"], rel=0.05)
    assert estimated["rmse"] == pytest.approx(expected["rmse"], rel=0.05)
    assert not _window(simulated.perf, week)["alert"].any()


def test_a_shift_into_noisier_inputs_raises_the_estimate_and_alerts_before_labels(
    simulated: Simulated,
) -> None:
    steady = _window(simulated.perf, STEADY[-1])
    for week in SHIFTED:
        window = _window(simulated.perf, week).loc[["mae", "rmse"]]
        expected = _expected(simulated.logged[simulated.logged["week"] == week])

        assert (window["estimated"] > 1.4 * steady.loc[["mae", "rmse"], "estimated"]).all()
        assert (window["estimated"] > window["upper"]).all()
        assert window.loc["mae", "estimated"] == pytest.approx(expected["mae"], rel=0.15)
        assert window["alert"].all()
    # The last week has no labels: its alert is judged on the estimate alone.
    assert _window(simulated.perf, WEEKS[-1])["realized"].isna().all()


def test_the_estimate_is_the_same_when_the_error_models_are_fitted_again(
    simulated: Simulated,
) -> None:
    from core.monitoring import regression_estimate

    regression_estimate._FITTED.clear()  # as in a new process: the seeded fit must agree
    again = _performance(simulated.store, "amount")

    pd.testing.assert_frame_equal(again, simulated.perf)


def test_a_reference_without_outcomes_gives_no_estimate(store: Store, tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    reference = _rows(rng, 500).astype({"amount": "Float64"}).assign(amount=pd.NA)
    logged = _rows(rng, 300).assign(week=WEEKS[0])
    logged["timestamp"] = pd.date_range(WEEKS[0], periods=300, freq="15min", tz="UTC")
    logged["request_id"] = [f"blank-{i}" for i in range(300)]
    _register_and_log(store, tmp_path, "blank", reference, logged)

    perf = _performance(store, "blank")

    assert len(perf) == 3
    assert perf["estimated"].isna().all()
    assert perf[["lower", "upper"]].isna().all().all()
    assert not perf["alert"].any()


def test_a_reference_is_fitted_once_per_process(simulated: Simulated) -> None:
    from core.monitoring import regression_estimate

    with simulated.store.read() as r:
        model = get_model(r, name="amount")
        version = get_version(r, model=model)
        first = regression_estimate.fit_error_models(r, model=model, version=version)
        again = regression_estimate.fit_error_models(r, model=model, version=version)

    assert first is not None
    assert first is again
