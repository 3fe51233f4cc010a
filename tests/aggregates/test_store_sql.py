"""On embedded DuckDB, the portable aggregates give the very counts today's DuckDB SQL gives
(core.monitoring.histograms, performance, data_quality, traffic; core.value.kpi) over the same
store tables, and the same counts over the store's tables as over the same logs in Parquet."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from core import aggregates as agg
from core.monitoring import data_quality, performance, traffic
from core.monitoring.histograms import category_counts, numeric_counts
from core.monitoring.windows import WindowSpec
from core.registry.features import Feature
from core.store import Model, ModelVersion, Store
from core.value import kpi
from tests.aggregates.generated_logs import CATEGORIES, MODEL_ID, Logs


def _dates(values: pd.Series) -> list:
    return pd.to_datetime(values).dt.date.tolist()


MODEL = Model(id=MODEL_ID, name="generated", task="binary", settings={"latency_slo_ms": 250.0})


@pytest.mark.parametrize("version", [1, 2])
def test_numeric_bins_equal_histograms_numeric_counts(
    logs_store: Store, logs: Logs, version: int
) -> None:
    with logs_store.read() as r:
        got = agg.daily_numeric_counts(
            agg.duckdb_engine(r.db, logs=agg.StoreTables()),
            model_id=MODEL_ID, version=version, days=logs.days, bins=logs.bins,
        )  # fmt: skip
        for column, bins in logs.bins.items():
            today = numeric_counts(
                r, table="pred_m1", column=column, bins=bins, window_sql="ts::DATE",
                where="version = ?", params=[version],
            ).sort_values(["w", "bin"], ignore_index=True)  # fmt: skip
            mine = agg.as_histogram_bins(got[got["feature"] == column])

            assert _dates(mine["day"]) == _dates(today["w"])
            assert mine["bin"].tolist() == today["bin"].tolist()
            assert mine["n"].tolist() == today["n"].tolist()
            np.testing.assert_allclose(mine["total"], today["total"].astype(float), rtol=1e-12)
    # The generated values reach every kind of bin, infinities included.
    assert {-2, -1, 0, 1, 400, 401, 402} <= set(got["bin"])


def test_category_counts_equal_histograms_category_counts(logs_store: Store, logs: Logs) -> None:
    with logs_store.read() as r:
        got = agg.daily_category_counts(
            agg.duckdb_engine(r.db, logs=agg.StoreTables()),
            model_id=MODEL_ID, version=2, days=logs.days, columns=logs.categorical,
        )  # fmt: skip
        for column in logs.categorical:
            today = category_counts(
                r, table="pred_m1", column=column, window_sql="ts::DATE", where="version = ?",
                params=[2],
            )  # fmt: skip
            mine = got[got["feature"] == column]
            rows = zip(_dates(mine["day"]), mine["value"], mine["n"], strict=True)
            today_rows = zip(_dates(today["w"]), today["value"], today["n"], strict=True)

            assert set(rows) == {(d, None if pd.isna(v) else v, n) for d, v, n in today_rows}
    assert None in set(got["value"]) and "unseen-a" in set(got["value"])


def test_score_counts_equal_performance_binary_counts(logs_store: Store, logs: Logs) -> None:
    version = ModelVersion(model_id=MODEL_ID, version=1)
    with logs_store.read() as r:
        got = agg.daily_score_counts(
            agg.duckdb_engine(r.db, logs=agg.StoreTables()),
            model_id=MODEL_ID, version=1, days=logs.days,
        )  # fmt: skip
        source, params = performance.labelled_logs(MODEL, version, WindowSpec.parse("D"))
        today = performance.binary_counts(
            r, source=f"(SELECT *, ts::DATE AS day FROM {source})", params=params, group="day"
        ).sort_values(["g", "bin"], ignore_index=True)

    assert _dates(got["day"]) == _dates(today["g"])
    assert got["bin"].tolist() == today["bin"].tolist()
    assert got["n"].tolist() == today["n"].tolist()
    assert got["labelled"].tolist() == today["labelled"].tolist()
    assert got["positives"].tolist() == today["positives"].fillna(0).tolist()
    np.testing.assert_allclose(got["score_sum"], today["s"], rtol=1e-12)
    assert (got["n"] > got["labelled"]).any()  # unlabelled rows are counted
    assert {0, 199} <= set(got["bin"])


def test_curve_bins_summed_over_days_equal_kpi_curve_counts(logs_store: Store, logs: Logs) -> None:
    bins = agg.ScoreBins(kpi.CURVE_BINS, ones_apart=True)
    with logs_store.read() as r:
        got = agg.daily_score_counts(
            agg.duckdb_engine(r.db, logs=agg.StoreTables()),
            model_id=MODEL_ID, version=2, days=logs.days, bins=bins,
        )  # fmt: skip
        pos, neg = kpi.curve_counts(r, model=MODEL, version=ModelVersion(model_id=1, version=2))
    per_bin = got.groupby("bin")[["labelled", "positives"]].sum()
    mine_pos, mine_neg = np.zeros(kpi.CURVE_BINS + 1), np.zeros(kpi.CURVE_BINS + 1)
    mine_pos[per_bin.index] = per_bin["positives"]
    mine_neg[per_bin.index] = per_bin["labelled"] - per_bin["positives"]

    np.testing.assert_array_equal(mine_pos, pos)
    np.testing.assert_array_equal(mine_neg, neg)
    assert neg[kpi.CURVE_BINS] + pos[kpi.CURVE_BINS] > 0  # scores of exactly 1 have their bin


def test_traffic_equals_daily_traffic_and_latency(logs_store: Store, logs: Logs) -> None:
    with logs_store.read() as r:
        got = agg.daily_traffic(
            agg.duckdb_engine(r.db, logs=agg.StoreTables()),
            model_id=MODEL_ID, version=None, days=logs.days, slo_ms=250.0,
        )  # fmt: skip
        daily = traffic.daily_traffic(r, flt=traffic.TrafficFilter(MODEL_ID))
        latency = data_quality.latency(r, model=MODEL, period="D")
    per_day = got.groupby("day")[["rows", "score_sum", "latency_count", "over_slo"]].sum()

    assert per_day["rows"].tolist() == daily["predictions"].tolist()
    np.testing.assert_allclose(per_day["score_sum"] / per_day["rows"], daily["mean_score"])
    assert per_day["latency_count"].tolist() == latency["measured"].tolist()
    # data_quality's share is over the measured latencies (avg skips NULL).
    np.testing.assert_allclose(
        per_day["over_slo"] / per_day["latency_count"], latency["over_slo_share"], rtol=1e-12
    )


def test_missing_and_unknown_equal_data_quality_feature_rates(
    logs_store: Store, logs: Logs
) -> None:
    features = [
        Feature(name=c, kind="categorical", column=c, categories=list(CATEGORIES))
        for c in logs.categorical
    ]
    with logs_store.read() as r:
        got = agg.daily_feature_quality(
            agg.duckdb_engine(r.db, logs=agg.StoreTables()),
            model_id=MODEL_ID, version=None, days=logs.days, columns=logs.categorical,
            known={c: list(CATEGORIES) for c in logs.categorical},
        )  # fmt: skip
        today = data_quality.feature_rates(r, model=MODEL, features=features, period="D")
    per_day = got.groupby(["day", "feature"])[["missing", "unknown"]].sum().reset_index()
    for problem, column in (("missing", "missing"), ("unknown_category", "unknown")):
        expected = today[today["problem"] == problem].sort_values(["period", "feature"])

        assert per_day[column].tolist() == expected["rows"].tolist()
    assert (per_day["unknown"] > 0).all() and (per_day["missing"] > 0).all()
