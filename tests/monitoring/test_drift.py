"""Drift per window: calendar and chunk windows, method filters, settings, and when it alerts."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core.auth import Identity
from core.errors import InvalidInput
from core.ingest import ingest_predictions
from core.monitoring.drift import drift_by_window
from core.monitoring.performance import performance_by_window
from core.monitoring.policy import update_settings
from core.monitoring.windows import WindowSpec
from core.registry import RegistrationSpec, get_model, get_version, register_version
from core.store import Store

ENGINEER = Identity("erin", "ml_engineer")


def _population(rng: np.random.Generator, n: int, x_mean: float = 0.0) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "x": rng.normal(x_mean, 1.0, n),
            "c": rng.choice(["a", "b", "c"], n, p=[0.5, 0.3, 0.2]),
            "score": rng.uniform(0, 1, n),
        }
    )


def _register(store: Store, folder: Path, seed: int = 0, n: int = 2000, missing: float = 0) -> None:
    rng = np.random.default_rng(seed)
    reference = _population(rng, n)
    reference.loc[rng.random(n) < missing, "x"] = np.nan
    reference["target"] = (rng.random(n) < reference["score"]).astype(int)
    path = folder / f"reference-{seed}.parquet"
    reference.to_parquet(path)
    register_version(
        store, spec=RegistrationSpec(model="m", reference=path, target="target", prediction="score")
    )


def _ingest(store: Store, folder: Path, frame: pd.DataFrame, name: str) -> None:
    frame = frame.copy()
    frame["request_id"] = [f"{name}-{i}" for i in range(len(frame))]
    path = folder / f"{name}.parquet"
    frame.to_parquet(path)
    [result] = ingest_predictions(store, model="m", files=[path])
    assert result.rows_ingested == len(frame), result


def _logs(rng: np.random.Generator, stamps: pd.DatetimeIndex, x_mean: float = 0.0):
    return _population(rng, len(stamps), x_mean).assign(timestamp=stamps)


def _drift(store: Store, spec: WindowSpec, **options: str) -> pd.DataFrame:
    with store.read() as r:
        model = get_model(r, name="m")
        return drift_by_window(
            r, model=model, version=get_version(r, model=model), spec=spec, **options
        )


def _windows(drift: pd.DataFrame) -> list[tuple[str, str, int]]:
    rows = drift[["window_start", "window_end", "n"]].drop_duplicates()
    return [(f"{a:%Y-%m-%d %H:%M}", f"{b:%Y-%m-%d %H:%M}", int(n)) for a, b, n in rows.values]


@pytest.fixture
def hourly_store(store: Store, tmp_path: Path) -> Store:
    """Model 'm' with one log row per hour from 2026-02-26 06:00 to 2026-03-03 05:00 (UTC)."""
    _register(store, tmp_path)
    stamps = pd.date_range("2026-02-26 06:00", periods=5 * 24, freq="h", tz="UTC")
    _ingest(store, tmp_path, _logs(np.random.default_rng(1), stamps), "hourly")
    return store


def test_daily_windows_run_from_midnight_to_midnight(hourly_store: Store) -> None:
    assert _windows(_drift(hourly_store, WindowSpec.parse("D"))) == [
        ("2026-02-26 00:00", "2026-02-27 00:00", 18),
        ("2026-02-27 00:00", "2026-02-28 00:00", 24),
        ("2026-02-28 00:00", "2026-03-01 00:00", 24),
        ("2026-03-01 00:00", "2026-03-02 00:00", 24),
        ("2026-03-02 00:00", "2026-03-03 00:00", 24),
        ("2026-03-03 00:00", "2026-03-04 00:00", 6),
    ]


def test_weekly_windows_run_from_monday_to_monday(hourly_store: Store) -> None:
    # 2026-02-26 is a Thursday, 2026-03-02 the next Monday.
    assert _windows(_drift(hourly_store, WindowSpec.parse("W"))) == [
        ("2026-02-23 00:00", "2026-03-02 00:00", 90),
        ("2026-03-02 00:00", "2026-03-09 00:00", 30),
    ]


def test_monthly_windows_follow_the_calendar(hourly_store: Store) -> None:
    assert _windows(_drift(hourly_store, WindowSpec.parse("m"))) == [
        ("2026-02-01 00:00", "2026-03-01 00:00", 66),
        ("2026-03-01 00:00", "2026-04-01 00:00", 54),
    ]


def test_weekly_is_the_default_window() -> None:
    assert WindowSpec.parse() == WindowSpec("W", None)
    assert WindowSpec.parse().label() == "per week"
    assert WindowSpec.parse(chunk_size=5000).label() == "per 5,000 rows"


@pytest.mark.parametrize(
    ("period", "chunk_size", "message"),
    [
        ("D", 100, "give either a period (D, W, M) or a chunk size, not both"),
        (None, 0, "the chunk size must be a positive number of rows"),
        ("Q", None, "unknown period 'Q'; use D, W or M"),
    ],
)
def test_a_bad_window_is_refused_with_what_to_use(
    period: str | None, chunk_size: int | None, message: str
) -> None:
    with pytest.raises(InvalidInput, match=f"^{re.escape(message)}$"):
        WindowSpec.parse(period, chunk_size)


def test_chunks_follow_timestamp_order_not_ingest_order_and_keep_the_last_partial_chunk(
    store: Store, tmp_path: Path
) -> None:
    _register(store, tmp_path)
    rng = np.random.default_rng(2)
    stamps = pd.date_range("2026-03-02", periods=250, freq="10min", tz="UTC")
    # The later half (shifted) arrives first, and each file is shuffled.
    late = _logs(rng, stamps[100:], x_mean=2.0).sample(frac=1, random_state=1)
    early = _logs(rng, stamps[:100]).sample(frac=1, random_state=2)
    _ingest(store, tmp_path, late, "late")
    _ingest(store, tmp_path, early, "early")

    drift = _drift(store, WindowSpec.parse(chunk_size=100))

    assert _windows(drift) == [
        ("2026-03-02 00:00", "2026-03-02 16:30", 100),
        ("2026-03-02 16:40", "2026-03-03 09:10", 100),
        ("2026-03-03 09:20", "2026-03-03 17:30", 50),
    ]
    x = drift[(drift["feature"] == "x") & (drift["method"] == "wasserstein")]
    assert x["drifted"].tolist() == [False, True, True]
    assert x["value"].iloc[0] < 0.5
    assert x["value"].iloc[1:].min() > 1.5


def test_chunks_split_rows_sharing_a_timestamp_by_request_id(store: Store, tmp_path: Path) -> None:
    # 25 timestamps with 10 rows each: chunks of 64 rows cut through groups of equal stamps.
    _register(store, tmp_path)
    stamps = pd.DatetimeIndex(
        np.repeat(pd.date_range("2026-03-02", periods=25, freq="h", tz="UTC"), 10)
    )
    _ingest(store, tmp_path, _logs(np.random.default_rng(5), stamps).iloc[::-1], "ties")

    drift = _drift(store, WindowSpec.parse(chunk_size=64))

    assert _windows(drift) == [
        ("2026-03-02 00:00", "2026-03-02 06:00", 64),
        ("2026-03-02 06:00", "2026-03-02 12:00", 64),
        ("2026-03-02 12:00", "2026-03-02 19:00", 64),
        ("2026-03-02 19:00", "2026-03-03 00:00", 58),
    ]


@pytest.mark.parametrize("spec", [WindowSpec.parse("D"), WindowSpec.parse(chunk_size=64)])
def test_drift_and_performance_cut_the_same_windows(
    store: Store, tmp_path: Path, spec: WindowSpec
) -> None:
    _register(store, tmp_path)
    stamps = pd.DatetimeIndex(
        np.repeat(pd.date_range("2026-03-02 20:00", periods=25, freq="h", tz="UTC"), 10)
    )
    _ingest(store, tmp_path, _logs(np.random.default_rng(6), stamps), "ties")

    with store.read() as r:
        model = get_model(r, name="m")
        perf = performance_by_window(r, model=model, version=get_version(r, model=model), spec=spec)

    assert _windows(perf) == _windows(_drift(store, spec))


def test_the_method_filter_keeps_only_that_method(hourly_store: Store) -> None:
    drift = _drift(hourly_store, WindowSpec.parse("W"), only_method="psi")

    assert set(drift["method"]) == {"psi"}
    assert sorted(set(drift["feature"])) == ["c", "prediction", "x"]
    assert len(drift) == 3 * 2


def test_an_unknown_method_is_refused_with_the_known_ones(hourly_store: Store) -> None:
    with pytest.raises(InvalidInput, match="unknown method 'energy'; use one of ks, psi, "):
        _drift(hourly_store, WindowSpec.parse("W"), only_method="energy")


def test_a_version_without_logs_has_no_drift_rows(store: Store, tmp_path: Path) -> None:
    _register(store, tmp_path)

    drift = _drift(store, WindowSpec.parse("W"))

    assert drift.empty
    assert {"signal", "drifted", "rule"} <= set(drift.columns)


@pytest.fixture
def shifted_store(store: Store, tmp_path: Path) -> Store:
    """Model 'm' with a week of 700 rows whose x moved by 0.3 sd."""
    _register(store, tmp_path)
    stamps = pd.date_range("2026-03-02", periods=700, freq="14min", tz="UTC")
    _ingest(store, tmp_path, _logs(np.random.default_rng(3), stamps, x_mean=0.3), "week")
    return store


def _x(drift: pd.DataFrame) -> pd.DataFrame:
    return drift[drift["feature"] == "x"].set_index("method")


def test_by_default_numbers_are_judged_on_wasserstein_and_categories_on_jensen_shannon(
    shifted_store: Store,
) -> None:
    drift = _drift(shifted_store, WindowSpec.parse("W"))

    primary = drift[drift["primary"]].set_index("feature")["method"].to_dict()
    assert primary == {"x": "wasserstein", "c": "jensen_shannon", "prediction": "wasserstein"}
    x = _x(drift)
    assert 0.2 < x.loc["wasserstein", "value"] < 0.4
    assert x.loc["wasserstein", "signal"]
    assert x["drifted"].all()
    assert not drift.set_index("feature").loc["c", "drifted"].any()


def test_a_feature_threshold_set_by_an_engineer_decides_its_verdict(shifted_store: Store) -> None:
    update_settings(
        shifted_store,
        model="m",
        changes={"drift.features.x.threshold": "0.5", "drift.thresholds.psi": "0.01"},
        by=ENGINEER,
    )

    x = _x(_drift(shifted_store, WindowSpec.parse("W")))

    assert x.loc["wasserstein", "threshold"] == 0.5
    assert not x.loc["wasserstein", "signal"]
    assert not x["drifted"].any()
    assert x.loc["wasserstein", "rule"].endswith(
        "within the fixed threshold 0.5 (drift.features.x.threshold)"
    )
    # The feature's own threshold is for its primary method; the others keep theirs: a fixed
    # one for psi, the test's significance level, and calibration for Jensen-Shannon.
    assert x.loc["ks", "threshold"] == 0.01
    assert x.loc["jensen_shannon", "threshold"] == max(
        x.loc["jensen_shannon", "usual_high"], x.loc["jensen_shannon", "minimum_effect"]
    )
    assert x.loc["psi", "threshold"] == 0.01
    assert x.loc["psi", "value"] > 0.01
    assert x.loc["psi", "signal"]


def test_a_feature_method_set_by_an_engineer_becomes_its_primary(shifted_store: Store) -> None:
    update_settings(
        shifted_store,
        model="m",
        changes={"drift.features.x.method": "ks", "drift.methods.categorical": "chi_square"},
        by=ENGINEER,
    )

    drift = _drift(shifted_store, WindowSpec.parse("W"))

    primary = drift[drift["primary"]].set_index("feature")["method"].to_dict()
    assert primary == {"x": "ks", "c": "chi_square", "prediction": "wasserstein"}
    # A test decides with its significance level and its distance's minimum effect.
    x = _x(drift)
    assert x["drifted"].all()
    assert re.fullmatch(
        r"ks p-value \S+ below 0\.01, and wasserstein 0\.\d+ above the minimum effect 0\.05",
        x.loc["ks", "rule"],
    ), x.loc["ks", "rule"]
    c = drift[drift["feature"] == "c"].set_index("method")
    assert not c["drifted"].any()
    assert c.loc["chi_square", "rule"].startswith("chi_square p-value ")


def test_a_distance_past_its_minimum_effect_is_not_drift_on_a_window_too_small_to_tell(
    store: Store, tmp_path: Path
) -> None:
    # 30 rows drawn exactly like the reference: the distance is noise, and its usual range at
    # 30 rows says so.
    _register(store, tmp_path)
    stamps = pd.date_range("2026-03-02", periods=30, freq="h", tz="UTC")
    _ingest(store, tmp_path, _logs(np.random.default_rng(11), stamps), "tiny")

    x = _x(_drift(store, WindowSpec.parse("W")))

    wasserstein = x.loc["wasserstein"]
    assert wasserstein["value"] > 0.1 > wasserstein["minimum_effect"]
    assert wasserstein["threshold"] == wasserstein["usual_high"] > wasserstein["value"]
    assert not wasserstein["signal"] and not wasserstein["drifted"]
    assert "but within its usual range" in wasserstein["rule"]


def test_missing_values_count_as_their_own_bucket_in_psi_and_jensen_shannon(
    store: Store, tmp_path: Path
) -> None:
    _register(store, tmp_path, missing=0.05)
    stamps = pd.date_range("2026-03-02", periods=700, freq="14min", tz="UTC")
    week = _logs(np.random.default_rng(4), stamps)
    week.loc[week.index[:280], "x"] = np.nan  # 40% missing, against 5% in the reference
    _ingest(store, tmp_path, week, "gaps")

    x = _x(_drift(store, WindowSpec.parse("W")))

    # Ten deciles at about 6% against 9.5%, missing at 40% against 5%: PSI about 0.9.
    assert x.loc["psi", "value"] == pytest.approx(0.9, abs=0.1)
    assert x.loc["psi", "signal"]
    assert x.loc["jensen_shannon", "value"] > 0.3 and x.loc["jensen_shannon", "signal"]
    # The values that did arrive are distributed like the reference.
    assert x.loc["wasserstein", "value"] < 0.1
