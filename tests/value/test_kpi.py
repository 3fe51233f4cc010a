"""KPIs in money: hand-computed cost matrices, the threshold curve against brute force, the
value-optimal threshold against the analytic one, regression costs, and the label-free
estimate against realized value on the demo before its concept change."""

from __future__ import annotations

import json
import math
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core import users
from core.auth import Identity
from core.ingest import ingest_labels, ingest_predictions
from core.monitoring.windows import WindowSpec
from core.registry import RegistrationSpec, get_model, get_version, register_version
from core.store import Store
from core.value import business_case, kpi
from data.build_demo import BUSINESS_CASE, MODEL, build_demo, truth_path
from tests.conftest import Ran, run_cli
from tests.factories import ADMIN, Case

OWNER = Identity("olga", "product_owner")
PASSWORD = "olga-secret"

# The tiny labelled set: (score, outcome); None = no label yet.
TINY = [
    (0.9, 1), (0.8, 1), (0.7, 0), (0.6, 1), (0.4, 0), (0.3, 1), (0.2, 0), (0.1, 0),
    (0.95, None), (0.05, None),
]  # fmt: skip
LOSS_LABELLED = 150
TINY_VALUES = {"value_tp": 100, "value_fp": -20, "value_tn": 5, "value_fn": -300}


def _reference(rng: np.random.Generator, n: int) -> pd.DataFrame:
    """Calibrated reference rows: the outcome is drawn with the score as its probability."""
    score = rng.uniform(0, 1, n)
    return pd.DataFrame(
        {"x": rng.normal(0, 1, n), "score": score, "target": (rng.random(n) < score).astype(int)}
    )


def _binary_model(
    store: Store, folder: Path, name: str, logged: pd.DataFrame, reference: pd.DataFrame
) -> None:
    """Register NAME on REFERENCE, log LOGGED (score, target, timestamp) and its labels."""
    reference.to_parquet(folder / f"{name}-reference.parquet")
    register_version(store, spec=RegistrationSpec(
        model=name, reference=folder / f"{name}-reference.parquet", target="target",
        prediction="score", task="binary",
    ))  # fmt: skip
    logged = logged.assign(
        request_id=[f"{name}-{i}" for i in range(len(logged))], x=0.0
    ).reset_index(drop=True)
    logged.drop(columns="target").to_parquet(folder / f"{name}-logs.parquet")
    labelled = logged[logged["target"].notna()].astype({"target": int})
    labelled[["request_id", "target"]].to_csv(folder / f"{name}-labels.csv", index=False)
    ingest_predictions(store, model=name, files=[folder / f"{name}-logs.parquet"])
    ingest_labels(store, model=name, files=[folder / f"{name}-labels.csv"])


def _uniform_logs(rng: np.random.Generator, n: int) -> pd.DataFrame:
    """Calibrated logs over three weeks, and labelled scores exactly on 0, bin edges and 1."""
    score = rng.uniform(0, 1, n)
    target = (rng.random(n) < score).astype(float)
    target[rng.random(n) < 0.2] = np.nan  # a fifth of the outcomes are not in yet
    score = np.concatenate([score, [0.0, 0.0, 0.123, 0.5, 0.5, 0.731, 1.0, 1.0]])
    target = np.concatenate([target, [0, 0, 1, 1, 0, 1, 1, 1]])
    return pd.DataFrame(
        {
            "score": score,
            "target": target,
            "timestamp": pd.date_range("2026-03-02", "2026-03-22", periods=len(score), tz="UTC"),
        }
    )


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory, regression_files: Case) -> Store:
    """Models 'tiny' (the hand-computed set), 'uniform' (20,000 calibrated decisions) and
    'loss' (regression; outcomes for its first 150 of 200 hourly decisions), with logs and
    labels, and a product owner who may sign in."""
    folder = tmp_path_factory.mktemp("kpi")
    store = Store(folder / "store.duckdb", lock_wait_seconds=30)
    store.init()
    rng = np.random.default_rng(11)
    tiny = pd.DataFrame(TINY, columns=["score", "target"]).assign(
        timestamp=pd.date_range("2026-03-02", periods=len(TINY), freq="h", tz="UTC")
    )
    _binary_model(store, folder, "tiny", tiny, _reference(rng, 2000))
    _binary_model(store, folder, "uniform", _uniform_logs(rng, 20_000), _reference(rng, 4000))
    register_version(store, spec=RegistrationSpec(
        model="loss", reference=regression_files.reference, target="loss", prediction="predicted",
        task="regression",
    ))  # fmt: skip
    ingest_predictions(store, model="loss", files=[regression_files.logs])
    pd.read_csv(regression_files.labels).iloc[:LOSS_LABELLED].to_csv(
        folder / "loss-labels.csv", index=False
    )
    ingest_labels(store, model="loss", files=[folder / "loss-labels.csv"])
    users.add_user(store, username="olga", role="product_owner", password=PASSWORD, by=ADMIN)
    return store


def _summary(store: Store, name: str) -> kpi.Summary:
    with store.read() as r:
        model = get_model(r, name=name)
        return kpi.summary(r, model=model, version=get_version(r, model=model))


def _windows(store: Store, name: str, period: str) -> pd.DataFrame:
    with store.read() as r:
        model = get_model(r, name=name)
        return kpi.by_window(
            r, model=model, version=get_version(r, model=model), spec=WindowSpec.parse(period)
        )


def _curve(store: Store, name: str) -> pd.DataFrame:
    with store.read() as r:
        model = get_model(r, name=name)
        pos, neg = kpi.curve_counts(r, model=model, version=get_version(r, model=model))
        return kpi.threshold_curve(pos, neg, business_case.current(model))


def _logged(store: Store, name: str) -> pd.DataFrame:
    """Every logged decision of NAME with its outcome (NaN while unlabelled)."""
    with store.read() as r:
        model = get_model(r, name=name)
        return r.frame(
            f"SELECT p.ts, p.score, l.y FROM pred_m{model.id} p LEFT JOIN label l "
            "ON l.model_id = ? AND l.request_id = p.request_id ORDER BY p.ts",
            [model.id],
        )


def _brute_force(score: np.ndarray, y: np.ndarray, t: float, v: dict[str, float]) -> dict:
    """Confusion counts and value per decision at threshold T, one decision at a time."""
    flagged = score >= t
    counts = {
        "tp": int(np.sum(flagged & (y == 1))),
        "fp": int(np.sum(flagged & (y == 0))),
        "tn": int(np.sum(~flagged & (y == 0))),
        "fn": int(np.sum(~flagged & (y == 1))),
    }
    total = sum(counts[k] * v[f"value_{k}"] for k in counts)
    return {**counts, "value_per_decision": total / len(y)}


# --- hand-computed cost matrix ----------------------------------------------------------


def test_value_per_decision_at_the_threshold_matches_the_hand_computed_matrix(store: Store):
    business_case.save(store, model="tiny", changes={**TINY_VALUES, "threshold": 0.5}, by=OWNER)

    found = _summary(store, "tiny")

    # At 0.5: TP 0.9, 0.8, 0.6; FP 0.7; FN 0.3; TN 0.4, 0.2, 0.1 -> 3*100 - 20 - 300 + 3*5 = -5.
    assert found.n_labeled == 8
    assert found.threshold == 0.5
    assert found.value_per_decision_at_threshold == pytest.approx(-5 / 8, abs=1e-12)


def test_the_optimum_on_the_hand_computed_set_drops_only_the_two_lowest_negatives(store: Store):
    business_case.save(store, model="tiny", changes={**TINY_VALUES, "threshold": 0.5}, by=OWNER)

    found = _summary(store, "tiny")

    # Flagging everything above 0.2 keeps all four positives (4*100) and drops the negatives
    # at 0.2 and 0.1 into TN (2*5) at the cost of FPs at 0.7 and 0.4: 400 - 40 + 10 = 370.
    # 0.201 is the lowest bin edge above the score 0.2 (1,000 bins).
    assert found.optimal_threshold == pytest.approx(0.201)
    assert found.value_per_decision_at_optimum == pytest.approx(370 / 8, abs=1e-12)


def test_a_window_reports_realized_value_its_band_and_value_per_period(store: Store):
    business_case.save(
        store,
        model="tiny",
        changes={**TINY_VALUES, "threshold": 0.5, "volume_per_period": 1000, "period": "M"},
        by=OWNER,
    )

    [window] = _windows(store, "tiny", "M").to_dict(orient="records")

    cells = np.array([100, 100, 100, -20, -300, 5, 5, 5], dtype=float)
    se = cells.std() / math.sqrt(8)
    assert (window["n"], window["n_labeled"]) == (10, 8)
    assert window["window_start"] == pd.Timestamp("2026-03-01")
    assert window["realized_value_per_decision"] == pytest.approx(-0.625, abs=1e-12)
    assert window["realized_lower"] == pytest.approx(-0.625 - 2 * se)
    assert window["realized_upper"] == pytest.approx(-0.625 + 2 * se)
    # Eight outcomes measure too little to count: the period shows its estimate.
    assert not window["measured"]
    assert window["value_per_period"] == pytest.approx(
        window["estimated_value_per_decision"] * 1000
    )
    assert window["value_in_window"] == pytest.approx(window["estimated_value_per_decision"] * 10)
    assert window["estimated_lower"] < window["estimated_value_per_decision"]


# --- threshold curve ----------------------------------------------------------------------


@pytest.mark.parametrize("t", [0.0, 0.001, 0.05, 0.123, 0.25, 0.5, 0.731, 0.999, 1.0])
def test_the_threshold_curve_equals_brute_force_at_each_threshold(store: Store, t: float):
    values = {"value_tp": 40.0, "value_fp": -7.5, "value_tn": 2.0, "value_fn": -90.0}
    business_case.save(store, model="uniform", changes=values, by=OWNER)
    labelled = _logged(store, "uniform").dropna(subset=["y"])

    row = _curve(store, "uniform").iloc[round(t * kpi.CURVE_BINS)]

    expected = _brute_force(labelled["score"].to_numpy(), labelled["y"].to_numpy(), t, values)
    assert row["threshold"] == t
    assert {k: int(row[k]) for k in ("tp", "fp", "tn", "fn")} == {
        k: expected[k] for k in ("tp", "fp", "tn", "fn")
    }
    assert row["value_per_decision"] == pytest.approx(expected["value_per_decision"], rel=1e-12)


def test_the_summary_at_any_threshold_is_exact_and_its_optimum_is_the_curves(store: Store):
    values = {"value_tp": 40.0, "value_fp": -7.5, "value_tn": 2.0, "value_fn": -90.0}
    business_case.save(store, model="uniform", changes={**values, "threshold": 0.4567}, by=OWNER)
    labelled = _logged(store, "uniform").dropna(subset=["y"])
    score, y = labelled["score"].to_numpy(), labelled["y"].to_numpy()

    found = _summary(store, "uniform")

    assert found.n_labeled == len(labelled)
    assert found.value_per_decision_at_threshold == pytest.approx(
        _brute_force(score, y, 0.4567, values)["value_per_decision"], rel=1e-12
    )
    best = max(
        (k / kpi.CURVE_BINS for k in range(kpi.CURVE_BINS + 1)),
        key=lambda t: (_brute_force(score, y, t, values)["value_per_decision"], -t),
    )
    assert found.optimal_threshold == best
    assert found.value_per_decision_at_optimum == pytest.approx(
        _brute_force(score, y, best, values)["value_per_decision"], rel=1e-12
    )


# --- the optimum on calibrated scores ----------------------------------------------------

N_CALIBRATED = 4_000_000


@pytest.mark.parametrize(
    "values",
    [
        {"value_tp": 1, "value_fp": -1, "value_tn": 1, "value_fn": -1},  # t* = 0.5
        {"value_tp": 0, "value_fp": -1, "value_tn": 0, "value_fn": -3},  # t* = 0.25
        {"value_tp": 10, "value_fp": -40, "value_tn": 0, "value_fn": 0},  # t* = 0.8
        {k: BUSINESS_CASE[k] for k in ("value_tp", "value_fp", "value_tn", "value_fn")},
    ],
)
def test_on_calibrated_scores_the_found_optimum_is_the_analytic_one(values: dict[str, float]):
    """Flagging pays when s * c_FN >= (1 - s) * c_FP, so the best threshold is
    c_FP / (c_FP + c_FN) with c_FP = value_tn - value_fp and c_FN = value_tp - value_fn.

    With uniform scores, the value near the optimum t* is a parabola of curvature
    (c_FP + c_FN) / 2 plus noise of variance t*(1 - t*)(c_FP + c_FN)^2 |t - t*| / n, so the
    argmax wanders on the scale delta = (4 t*(1 - t*) / n)^(1/3) (about 0.006 for n = 4
    million). We allow one bin (1/1000) plus 4 delta."""
    c_fp = values["value_tn"] - values["value_fp"]
    c_fn = values["value_tp"] - values["value_fn"]
    analytic = c_fp / (c_fp + c_fn)
    rng = np.random.default_rng(2026)
    score = rng.uniform(0, 1, N_CALIBRATED)
    y = (rng.random(N_CALIBRATED) < score).astype(float)
    bins = (score * kpi.CURVE_BINS).astype(int)  # as curve_counts bins them
    pos = np.bincount(bins, weights=y, minlength=kpi.CURVE_BINS + 1)
    neg = np.bincount(bins, weights=1 - y, minlength=kpi.CURVE_BINS + 1)
    case = business_case.BusinessCase({**business_case.DEFAULTS, **values}, 1)

    found, best = kpi.optimum(kpi.threshold_curve(pos, neg, case))

    delta = (4 * analytic * (1 - analytic) / N_CALIBRATED) ** (1 / 3)
    assert abs(found - analytic) <= 1 / kpi.CURVE_BINS + 4 * delta
    # Expected value at t*: outcomes below t* are not flagged, those above are.
    t = analytic
    expected = (
        values["value_fn"] * t**2 / 2
        + values["value_tn"] * (t - t**2 / 2)
        + values["value_tp"] * (1 - t**2) / 2
        + values["value_fp"] * ((1 - t) - (1 - t**2) / 2)
    )
    spread = max(abs(v) for v in values.values())
    assert best == pytest.approx(expected, abs=4 * spread / math.sqrt(N_CALIBRATED))


def test_estimated_value_agrees_with_realized_when_the_model_is_calibrated(store: Store):
    values = {"value_tp": 40.0, "value_fp": -7.5, "value_tn": 2.0, "value_fn": -90.0}
    business_case.save(store, model="uniform", changes={**values, "threshold": 0.3}, by=OWNER)

    windows = _windows(store, "uniform", "W")

    assert len(windows) == 3 and (windows["n_labeled"] > 4000).all()
    for w in windows.itertuples():
        se_r = (w.realized_upper - w.realized_lower) / (2 * kpi.Z)
        se_e = (w.estimated_upper - w.estimated_lower) / (2 * kpi.Z)
        assert abs(w.realized_value_per_decision - w.estimated_value_per_decision) <= 3 * (
            math.hypot(se_r, se_e)
        )


# --- regression ---------------------------------------------------------------------------


def test_regression_value_is_minus_the_asymmetric_cost_of_each_error(
    store: Store, regression_files: Case
) -> None:
    business_case.save(
        store,
        model="loss",
        changes={"cost_under": 3, "cost_over": 0.5, "volume_per_period": 700, "period": "W"},
        by=OWNER,
    )
    labels = pd.read_csv(regression_files.labels).iloc[:LOSS_LABELLED]
    rows = regression_files.frame.merge(labels, on="request_id", how="left")
    error = rows["loss"] - rows["predicted"]
    cost = 3 * error.clip(lower=0) + 0.5 * (-error).clip(lower=0)  # NaN without an outcome
    week = pd.to_datetime(rows["timestamp"]).dt.tz_localize(None).dt.to_period("W").dt.start_time

    found = _summary(store, "loss")
    windows = _windows(store, "loss", "W")

    assert (found.threshold, found.optimal_threshold) == (None, None)
    assert found.n_labeled == LOSS_LABELLED
    assert found.value_per_decision_at_threshold == pytest.approx(-cost.mean(), rel=1e-9)
    assert found.value_per_decision_at_optimum == found.value_per_decision_at_threshold
    # Weeks of 2026-02-23 (labelled), 03-02 (partly) and 03-09 (no outcome yet).
    expected = (-cost).groupby(week).mean()
    assert windows["window_start"].tolist() == expected.index.tolist()
    assert expected.isna().tolist() == [False, False, True]
    assert windows["realized_value_per_decision"].to_numpy() == pytest.approx(
        expected.to_numpy(), rel=1e-9, nan_ok=True
    )
    assert windows["value_per_period"].to_numpy() == pytest.approx(
        700 * expected.to_numpy(), nan_ok=True
    )
    assert windows["n"].tolist() == week.value_counts().sort_index().tolist()
    assert windows["n_labeled"].tolist() == cost.notna().groupby(week).sum().tolist()
    assert windows["estimated_value_per_decision"].isna().all()


def test_under_prediction_costs_more_when_cost_under_is_higher(store: Store) -> None:
    business_case.save(store, model="loss", changes={"cost_under": 1, "cost_over": 1}, by=OWNER)
    symmetric = _summary(store, "loss").value_per_decision_at_threshold
    business_case.save(store, model="loss", changes={"cost_under": 2, "cost_over": 0}, by=OWNER)
    under_only = _summary(store, "loss").value_per_decision_at_threshold
    business_case.save(store, model="loss", changes={"cost_under": 0, "cost_over": 2}, by=OWNER)
    over_only = _summary(store, "loss").value_per_decision_at_threshold

    # |e| = max(e, 0) + max(-e, 0): the two one-sided costs add up to the symmetric one.
    assert under_only + over_only == pytest.approx(2 * symmetric, rel=1e-9)
    assert under_only < 0 and over_only < 0


# --- the demo: estimated vs realized before the concept change ----------------------------

DEMO_DAYS, DEMO_PER_DAY = 64, 300
# Our allowance for the champion's calibration gap between its reference and production
# before the concept change: on 120,000 simulated decisions (per_day=2000) its observed default
# rate was 0.4-1.2 points above its mean score, week by week.
CALIBRATION_GAP = 0.01


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Store:
    """The demo over 64 days: labels arrive 30-60 days late, so every label it has belongs to
    a decision made before the concept change on day 40."""
    store = Store(tmp_path_factory.mktemp("kpi-demo") / "demo.duckdb", lock_wait_seconds=30)
    build_demo(store, days=DEMO_DAYS, per_day=DEMO_PER_DAY, quiet=True)
    return store


def _tolerance(row: object, sigmas: float) -> float:
    """SIGMAS standard errors of the difference plus the calibration allowance in money.

    A calibration gap g moves each unflagged decision by g * (value_tn - value_fn) and each
    flagged one by g * (value_fp - value_tp); the larger of the two bounds the whole window."""
    se_r = (row.realized_upper - row.realized_lower) / (2 * kpi.Z)
    se_e = (row.estimated_upper - row.estimated_lower) / (2 * kpi.Z)
    v = BUSINESS_CASE
    money = max(v["value_tn"] - v["value_fn"], v["value_fp"] - v["value_tp"])
    return sigmas * math.hypot(se_r, se_e) + CALIBRATION_GAP * money


def test_estimated_and_realized_value_agree_on_the_demo_before_the_concept_change(demo: Store):
    concept = pd.Timestamp(json.loads(truth_path(demo).read_text())["concept_drift_date"])
    with demo.read() as r:
        model = get_model(r, name=MODEL)
        version = get_version(r, model=model)
        weekly = kpi.by_window(r, model=model, version=version, spec=WindowSpec.parse("W"))
        monthly = kpi.by_window(r, model=model, version=version, spec=WindowSpec.parse("M"))

    before = weekly[(weekly["window_end"] <= concept) & (weekly["n_labeled"] >= 300)]
    assert len(before) >= 4
    for row in before.itertuples():
        gap = abs(row.realized_value_per_decision - row.estimated_value_per_decision)
        # Weekly windows hold 300-1,300 labels: 3 standard errors, as five windows are checked.
        assert gap <= _tolerance(row, 3), row
    may = monthly.iloc[0]
    assert may["window_end"] <= concept and may["n_labeled"] > 3000
    gap = abs(may["realized_value_per_decision"] - may["estimated_value_per_decision"])
    assert gap <= _tolerance(may, 2)


def test_kpi_json_reports_the_summary_and_one_record_per_window(demo: Store):
    with demo.read() as r:
        model = get_model(r, name=MODEL)
        version = get_version(r, model=model)
        summary = kpi.summary(r, model=model, version=version)
        monthly = kpi.by_window(r, model=model, version=version, spec=WindowSpec.parse("M"))

    ran = run_cli("kpi", MODEL, "--json", db=demo.path)

    assert ran.code == 0, ran.err
    data = ran.json()
    assert data["threshold"] == BUSINESS_CASE["threshold"]
    assert data["optimal_threshold"] == summary.optimal_threshold
    assert data["value_per_decision_at_threshold"] == pytest.approx(
        summary.value_per_decision_at_threshold
    )
    assert data["value_per_decision_at_optimum"] == pytest.approx(
        summary.value_per_decision_at_optimum
    )
    assert data["value_per_decision_at_optimum"] >= data["value_per_decision_at_threshold"]
    assert [set(w) for w in data["windows"]] == [
        {
            "window_start",
            "window_end",
            "n",
            "n_labeled",
            "realized_value_per_decision",
            "estimated_value_per_decision",
            "value_per_period",
            "measured",
        }
    ] * len(monthly)
    assert [w["n"] for w in data["windows"]] == monthly["n"].tolist()
    assert [w["n_labeled"] for w in data["windows"]] == monthly["n_labeled"].tolist()
    unlabelled = [w for w in data["windows"] if w["n_labeled"] == 0]
    assert unlabelled, "the last month of the demo has no outcomes yet"
    for w in unlabelled:
        assert w["realized_value_per_decision"] is None
        assert w["estimated_value_per_decision"] is not None
        assert w["value_per_period"] == pytest.approx(
            w["estimated_value_per_decision"] * BUSINESS_CASE["volume_per_period"]
        )


# --- the business-case command -------------------------------------------------------------


def _business_case(store: Store, *args: str) -> Ran:
    return run_cli(
        "business-case", *args, "--user", "olga", db=store.path,
        env={"MODELBRIDGE_PASSWORD": PASSWORD},
    )  # fmt: skip


def test_business_case_refuses_nonsense_in_one_line_with_exit_2(store: Store):
    before = _summary(store, "tiny")
    # Every refusal takes the same path; the messages are checked in-process in test_business.
    refusals = {
        ("tiny", "volume_per_period=-5"): "the volume per period cannot be negative (-5)",
        ("loss", "value_fp=-3"): "value_fp applies to binary models; loss is regression",
    }
    with ThreadPoolExecutor(len(refusals) + 1) as pool:
        shown = pool.submit(_business_case, store, "tiny", "--json")
        runs = {
            args: pool.submit(_business_case, store, args[0], "--set", args[1]) for args in refusals
        }

    for args, message in refusals.items():
        ran = runs[args].result()
        assert ran.code == 2, (args, ran.err)
        assert ran.out == ""
        assert ran.err.count("\n") == 1
        assert ran.err.startswith(f"modelbridge: error: {message}")
    case = shown.result().json()
    with store.read() as r:
        current = business_case.current(get_model(r, name="tiny"))
    assert case == {"revision": current.revision, **current.values}
    assert _summary(store, "tiny") == before


def test_kpi_and_business_case_text_read_as_numbers_and_dashes(store: Store):
    """For people, not pipelines: no None, nan, -0.00 or 1.98e+06 in the text output."""
    with store.read() as r:
        model = get_model(r, name="loss")
        summary = kpi.summary(r, model=model, version=get_version(r, model=model))

    ran = run_cli("kpi", "loss", db=store.path)
    case = run_cli("business-case", "loss", db=store.path)

    assert ran.code == 0 and case.code == 0, ran.err + case.err
    assert summary.threshold is None  # a regression model decides nothing at a threshold
    first = ran.out.splitlines()[0]
    assert first.startswith("value per decision ") and "threshold" not in first
    for text in (ran.out, case.out):
        for junk in ("None", "nan", "NaN", "<NA>", "-0.00", "e+0"):
            assert junk not in text, (junk, text)
    saved = run_cli("business-case", "loss", "--json", db=store.path).json()
    unset = [k for k, v in saved.items() if v is None]
    assert unset, saved  # a regression case leaves some numbers unset
    lines = case.out.splitlines()
    assert all(f"{k:>18}: -" in lines for k in unset), (unset, case.out)
