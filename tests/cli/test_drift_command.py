"""`modelbridge drift | performance | alerts | retrain-check | configure` through a subprocess."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core import users
from core.ingest import ingest_labels, ingest_predictions
from core.registry import RegistrationSpec, register_version
from core.store import Store
from tests.conftest import Ran, run_cli
from tests.factories import ADMIN

WEEKS = ["2026-03-02", "2026-03-09", "2026-03-16", "2026-03-23"]
PER_WEEK = 500
PASSWORD = "pw-1234"


def _rows(rng: np.random.Generator, n: int, x_mean: float = 0.0) -> pd.DataFrame:
    x = rng.normal(x_mean, 1, n)
    score = 1 / (1 + np.exp(-(-1.0 + x)))
    return pd.DataFrame(
        {
            "x": x,
            "c": rng.choice(["a", "b"], n),
            "score": score,
            "target": (rng.random(n) < score).astype(int),
        }
    )


def _model(store: Store, folder: Path, name: str, drifted_weeks: int) -> None:
    """NAME with four logged weeks, the last DRIFTED_WEEKS with x one sd higher; two labelled."""
    rng = np.random.default_rng(len(name))
    _rows(rng, 2000).to_parquet(folder / f"{name}-reference.parquet")
    register_version(store, spec=RegistrationSpec(
        model=name, reference=folder / f"{name}-reference.parquet", target="target",
        prediction="score", task="binary",
    ))  # fmt: skip
    weeks = [
        _rows(rng, PER_WEEK, 1.0 if i >= len(WEEKS) - drifted_weeks else 0.0).assign(
            timestamp=pd.date_range(week, periods=PER_WEEK, freq="20min", tz="UTC")
        )
        for i, week in enumerate(WEEKS)
    ]
    logged = pd.concat(weeks, ignore_index=True)
    logged["request_id"] = [f"{name}-{i}" for i in range(len(logged))]
    logged.drop(columns="target").to_parquet(folder / f"{name}-logs.parquet")
    logged.iloc[: 2 * PER_WEEK][["request_id", "target"]].to_csv(
        folder / f"{name}-labels.csv", index=False
    )
    ingest_predictions(store, model=name, files=[folder / f"{name}-logs.parquet"])
    ingest_labels(store, model=name, files=[folder / f"{name}-labels.csv"])


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store with 'credit' (x and the scores drift in the last two weeks) and 'calm'."""
    folder = tmp_path_factory.mktemp("drift_cli")
    store = Store(folder / "store.duckdb", lock_wait_seconds=30)
    store.init()
    _model(store, folder, "credit", drifted_weeks=2)
    _model(store, folder, "calm", drifted_weeks=0)
    users.add_user(store, username="erin", role="ml_engineer", password=PASSWORD, by=ADMIN)
    users.add_user(store, username="dora", role="domain_expert", password=PASSWORD, by=ADMIN)
    return store.path


def _ok(ran: Ran) -> list[dict]:
    assert ran.code == 0, ran.err
    assert "Traceback" not in ran.err
    return ran.json()


def _one_line_error(ran: Ran) -> str:
    assert ran.code == 2, (ran.code, ran.out, ran.err)
    assert ran.out == "" and "Traceback" not in ran.err
    assert ran.err.count("\n") == 1, ran.err
    return ran.err.strip()


def test_drift_json_has_one_record_per_window_feature_and_method(db: Path) -> None:
    records = _ok(run_cli("drift", "credit", "--json", db=db))

    assert {tuple(r) for r in records} == {
        (
            "window_start", "window_end", "n", "feature", "method", "value", "threshold",
            "signal", "usual_low", "usual_high", "minimum_effect", "primary", "drifted", "rule",
        )
    }  # fmt: skip
    # 4 weeks x (x: 4 methods, c: 3, prediction: 4)
    assert len(records) == 4 * (4 + 3 + 4)
    assert sorted({r["window_start"] for r in records}) == [f"{w}T00:00:00" for w in WEEKS]
    assert {r["n"] for r in records} == {PER_WEEK}
    x = [r for r in records if (r["feature"], r["method"]) == ("x", "wasserstein")]
    assert [r["drifted"] for r in x] == [False, False, True, True]
    assert [r["signal"] for r in x] == [False, False, True, True]
    assert x[-1]["window_end"] == "2026-03-30T00:00:00"
    # Calibrated on the 2,000-row reference for 500-row windows, above the minimum effect.
    assert x[-1]["minimum_effect"] == 0.05
    assert x[-1]["threshold"] == x[-1]["usual_high"] > 0.05
    assert x[-1]["rule"].startswith("wasserstein ")
    assert "above its usual range" in x[-1]["rule"]
    # One verdict per feature and window, on every method's record: 18 of 18 weeks of a
    # chi-square p-value below 0.01 no longer read as drift.
    c = [r for r in records if r["feature"] == "c"]
    assert {r["drifted"] for r in c} == {False}


def test_drift_method_option_keeps_only_that_method_in_chunks(db: Path) -> None:
    records = _ok(
        run_cli("drift", "credit", "--method", "psi", "--chunk-size", "800", "--json", db=db)
    )

    assert {r["method"] for r in records} == {"psi"}
    assert sorted({r["feature"] for r in records}) == ["c", "prediction", "x"]
    assert [r["n"] for r in records if r["feature"] == "x"] == [800, 800, 400]


def test_performance_json_has_estimates_everywhere_and_realized_only_with_labels(
    db: Path,
) -> None:
    records = _ok(run_cli("performance", "credit", "--json", db=db))

    assert {tuple(r) for r in records} == {
        (
            "window_start", "window_end", "n", "n_labeled", "metric", "estimated", "realized",
            "lower", "upper", "alert",
        )
    }  # fmt: skip
    assert len(records) == 4 * 6
    auc = [r for r in records if r["metric"] == "roc_auc"]
    assert [r["n_labeled"] for r in auc] == [PER_WEEK, PER_WEEK, 0, 0]
    assert [r["realized"] is None for r in auc] == [False, False, True, True]
    assert all(0.5 < r["estimated"] < 1 and r["lower"] < r["upper"] for r in auc)


def test_performance_text_says_why_two_windows_have_no_realized_value(db: Path) -> None:
    ran = run_cli("performance", "credit", db=db)

    assert ran.code == 0, ran.err
    assert ran.out.splitlines()[-1] == (
        "Realized values need at least 100 labels per window; 2 of 4 windows have fewer, so "
        "only the estimate is shown there."
    )
    assert "nan" not in ran.out.lower() and "None" not in ran.out


def test_alerts_open_json_lists_the_drifted_feature_with_its_reason(db: Path) -> None:
    records = _ok(run_cli("alerts", "credit", "--open", "--json", db=db))

    assert all(
        {"id", "kind", "feature", "metric", "since", "severity", "reason", "status"} <= set(r)
        for r in records
    )
    assert {r["status"] for r in records} == {"open"}
    drift = {r["feature"]: r for r in records if r["kind"] in ("drift", "prediction_drift")}
    assert sorted(drift) == ["prediction", "x"]
    assert drift["x"]["metric"] is None
    assert drift["x"]["since"] == "2026-03-16T00:00:00+00:00"
    assert drift["x"]["reason"].startswith("Input 'x' drifted from the reference")


def test_retrain_check_exits_1_with_the_reason_when_retraining_is_recommended(db: Path) -> None:
    ran = run_cli("retrain-check", "credit", db=db)

    assert ran.code == 1, ran.err
    assert ran.out == (
        "Inputs drifted (x) and the model's scores moved with them since 2026-03-16.\n"
    )


def test_retrain_check_exits_0_when_nothing_calls_for_it(db: Path) -> None:
    ran = run_cli("retrain-check", "calm", db=db)

    assert (ran.code, ran.out) == (0, "No open alert calls for retraining.\n"), ran.err


def test_configure_refuses_an_unknown_setting_in_one_line(db: Path) -> None:
    ran = run_cli(
        "configure", "credit", "--set", "drift.colour=red", "--user", "erin",
        db=db, env={"MODELBRIDGE_PASSWORD": PASSWORD},
    )  # fmt: skip

    assert _one_line_error(ran).startswith(
        "modelbridge: error: unknown setting 'drift.colour'; known: latency_slo_ms, "
    )


def test_configure_refuses_a_role_without_the_right_in_one_line(db: Path) -> None:
    ran = run_cli(
        "configure", "credit", "--set", "alerts.consecutive=3", "--user", "dora",
        db=db, env={"MODELBRIDGE_PASSWORD": PASSWORD},
    )  # fmt: skip

    assert _one_line_error(ran) == (
        "modelbridge: error: dora (Domain expert) may not edit model settings; "
        "that needs ML engineer or Administrator"
    )
