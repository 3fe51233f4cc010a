"""A team store reads traffic and data quality from its per-day counts and gives exactly what
the embedded store computes from its logs; where the counts were taken under another SLO,
score range or feature checks, it reads its logs instead."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from core.aggregates import refresh_day_counts
from core.auth import Identity
from core.ingest import ingest_predictions
from core.monitoring import data_quality, traffic
from core.monitoring.policy import update_settings
from core.registry import features_of, get_model, get_version
from core.store import Store, TeamStore
from tests.aggregates.test_day_counts import _filled, _stale
from tests.factories import Case

ENGINEER = Identity("erin", "ml_engineer")


def _troubled(case: Case, folder: Path) -> Path:
    """Forty more requests on the logs' days: kept ones with values outside the reference's
    range, unknown segments and missing inputs, and rejected ones (scores over 1, timestamps
    in 2031 that are placed by their batch's newest request)."""
    rows = case.frame.sample(40, random_state=7).reset_index(drop=True)
    rows["request_id"] = [f"odd-{i}" for i in range(len(rows))]
    rows.loc[0:5, "income"] = 1e9
    rows.loc[6:11, "segment"] = "unheard-of"
    rows.loc[12:17, "debt ratio"] = None
    rows.loc[18:21, "score"] = 1.7
    rows["timestamp"] = rows["timestamp"].astype(str)
    rows.loc[22:25, "timestamp"] = "2031-01-01T00:00:00Z"
    rows.loc[26:29, "latency_ms"] = None
    path = folder / "troubled.csv"
    rows.to_csv(path, index=False)
    return path


@pytest.fixture
def both(team_store: TeamStore, binary_files: Case, tmp_path: Path) -> tuple[Store, Store]:
    """The same logs in an embedded store and in a team store whose Parquet log files are
    gone after counting, so only its day counts can answer."""
    troubled = _troubled(binary_files, tmp_path)
    embedded = Store(tmp_path / "embedded.duckdb")
    embedded.init()
    for store in (embedded, team_store):
        _filled(store, binary_files, labels=False)
        ingest_predictions(store, model="credit", files=[troubled])
    refresh_day_counts(team_store)
    assert _stale(team_store) == []
    for path in (team_store.log_location / "kind=prediction").rglob("*.parquet"):
        path.unlink()
    return embedded, team_store


def _traffic(r: Any, period: str) -> dict[str, Any]:
    model = get_model(r, name="credit")
    lo, hi = traffic.score_range(r, model=model)
    flt = traffic.TrafficFilter(model.id)
    one = traffic.TrafficFilter(model.id, 1, pd.Timestamp("2026-03-03").date(),
                                pd.Timestamp("2026-03-08").date())  # fmt: skip
    return {
        "span": pd.DataFrame([traffic.span(r, model=model)]),
        "daily_traffic": traffic.daily_traffic(r, flt=flt),
        "daily_traffic of some days": traffic.daily_traffic(r, flt=one),
        "score_distribution": traffic.score_distribution(r, flt=flt, lo=lo, hi=hi),
        "totals": pd.DataFrame([traffic.totals(r, flt=flt)]),
        "totals of some days": pd.DataFrame([traffic.totals(r, flt=one)]),
    }


def _quality(r: Any, period: str) -> dict[str, Any]:
    model = get_model(r, name="credit")
    features = features_of(get_version(r, model=model))
    head = data_quality.headline(r, model=model, period=period)
    return {
        "volume": data_quality.volume(r, model=model, period=period),
        "reasons": data_quality.reasons(r, model=model, period=period),
        "feature_rates": data_quality.feature_rates(
            r, model=model, features=features, period=period
        ),
        "latency": data_quality.latency(r, model=model, period=period),
        "headline": pd.DataFrame([vars(head)]),
    }


def _figures(store: Store, period: str) -> dict[str, pd.DataFrame]:
    with store.read() as r:
        return {**_traffic(r, period), **_quality(r, period)}


def _equal(got: dict[str, pd.DataFrame], want: dict[str, pd.DataFrame]) -> None:
    assert list(got) == list(want)
    for name in want:
        assert len(want[name]) > 0, name
        pd.testing.assert_frame_equal(
            got[name], want[name], check_exact=False, rtol=1e-12, obj=name
        )


@pytest.mark.parametrize("period", ["D", "W"])
def test_traffic_and_quality_from_day_counts_equal_the_embedded_stores_from_its_logs(
    both: tuple[Store, Store], period: str
) -> None:
    embedded, team = both

    want = _figures(embedded, period)
    got = _figures(team, period)

    _equal(got, want)
    rates = want["feature_rates"].groupby("problem")["rows"].sum()
    assert rates["out_of_range"] > 0 and rates["unknown_category"] > 0 and rates["missing"] > 0
    assert want["volume"]["quarantined"].sum() == 14  # scores over 1, 2031, no debt ratio
    assert want["latency"]["measured"].sum() < want["volume"]["ingested"].sum()


def test_a_new_slo_is_read_from_the_logs_until_the_days_are_counted_again(
    team_store: TeamStore, binary_files: Case, tmp_path: Path
) -> None:
    embedded = Store(tmp_path / "embedded.duckdb")
    embedded.init()
    for store in (embedded, team_store):
        _filled(store, binary_files, labels=False)
    refresh_day_counts(team_store)
    for store in (embedded, team_store):
        update_settings(store, model="credit", changes={"latency_slo_ms": 52}, by=ENGINEER)

    def latency(store: Store) -> pd.DataFrame:
        with store.read() as r:
            return data_quality.latency(r, model=get_model(r, name="credit"), period="W")

    assert len(_stale(team_store)) > 1  # every counted day waits for the new SLO
    pd.testing.assert_frame_equal(latency(team_store), latency(embedded), rtol=1e-12)
    refresh_day_counts(team_store)
    for path in (team_store.log_location / "kind=prediction").rglob("*.parquet"):
        path.unlink()
    want = latency(embedded)
    pd.testing.assert_frame_equal(latency(team_store), want, rtol=1e-12)
    assert set(want["slo_ms"]) == {52.0} and 0 < want["over_slo_share"].max() < 1


def _after_counting(store: TeamStore, read: Callable[[Any], pd.DataFrame]) -> pd.DataFrame:
    """READ's answer once the log files are gone: a team store that needs its logs fails."""
    for path in (store.log_location / "kind=prediction").rglob("*.parquet"):
        path.unlink()
    with store.read() as r:
        return read(r)


def test_other_checks_or_an_other_score_range_read_the_logs(
    team_store: TeamStore, binary_files: Case
) -> None:
    from core.errors import ModelBridgeError

    _filled(team_store, binary_files, labels=False)
    refresh_day_counts(team_store)
    with team_store.read() as r:
        model = get_model(r, name="credit")
        features = features_of(get_version(r, model=model))
        counted = data_quality.feature_rates(r, model=model, features=features)
    narrower = [
        f if f.kind != "numeric" else type(f)(**{**vars(f), "max": (f.min + f.max) / 2})
        for f in features
    ]
    with team_store.read() as r:
        logged = data_quality.feature_rates(r, model=model, features=narrower)
    assert (
        logged[logged["problem"] == "out_of_range"]["rows"].sum()
        > counted[counted["problem"] == "out_of_range"]["rows"].sum()
    )

    flt = traffic.TrafficFilter(model.id)
    with pytest.raises(ModelBridgeError):  # another range needs the logs, now gone
        _after_counting(
            team_store, lambda r: traffic.score_distribution(r, flt=flt, lo=0.0, hi=2.0)
        )
    with team_store.read() as r:
        shares = traffic.score_distribution(r, flt=flt, lo=0.0, hi=1.0)
    np.testing.assert_allclose(shares.groupby("day")["share"].sum(), 1.0)


def test_a_regression_models_traffic_without_latency_from_day_counts_equals_the_embedded_stores(
    team_store: TeamStore, regression_files: Case, tmp_path: Path
) -> None:
    from core.registry import RegistrationSpec, register_version

    embedded = Store(tmp_path / "embedded.duckdb")
    embedded.init()
    for store in (embedded, team_store):
        register_version(store, spec=RegistrationSpec(
            model="loss", reference=regression_files.reference, target="loss",
            prediction="predicted", model_file=regression_files.model_file,
        ))  # fmt: skip
        ingest_predictions(store, model="loss", files=[regression_files.logs])
    refresh_day_counts(team_store)
    for path in (team_store.log_location / "kind=prediction").rglob("*.parquet"):
        path.unlink()

    def figures(store: Store) -> dict[str, pd.DataFrame]:
        with store.read() as r:
            model = get_model(r, name="loss")
            lo, hi = traffic.score_range(r, model=model)
            flt = traffic.TrafficFilter(model.id)
            return {
                "daily_traffic": traffic.daily_traffic(r, flt=flt),
                # the range is the version's reference middle 98%, as it was counted
                "score_distribution": traffic.score_distribution(r, flt=flt, lo=lo, hi=hi),
                "totals": pd.DataFrame([traffic.totals(r, flt=flt)]),
                "latency": data_quality.latency(r, model=model, period="W"),
            }

    want = figures(embedded)
    _equal(figures(team_store), want)
    assert want["daily_traffic"]["latency_p95"].isna().all()
    assert want["totals"]["latency_p95"].tolist() == [None]
