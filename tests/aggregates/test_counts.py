"""What each aggregate counts, on a handful of rows worked out by hand (embedded DuckDB)."""

from __future__ import annotations

import math
from datetime import date, datetime
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from core import aggregates as agg
from core.monitoring import latency_bins
from core.monitoring.histograms import FINE_BINS, MISSING, NumericBins

DAY1, DAY2 = date(2026, 3, 1), date(2026, 3, 2)
NAN, INF = math.nan, math.inf
JUST_BELOW_2 = math.nextafter(2.0, 0.0)  # (x - lo) / width rounds up to FINE_BINS


@pytest.fixture
def engine() -> agg.Engine:
    """Model 7's logs: four rows on day 1 (version 1), five on day 2 (version 2), labels."""
    con = duckdb.connect()
    con.execute(
        "CREATE TABLE pred_m7 (request_id VARCHAR, version INTEGER, ts TIMESTAMP, score DOUBLE, "
        "latency_ms DOUBLE, f1 DOUBLE, f2 VARCHAR)"
    )
    rows = [
        ("a", 1, datetime(2026, 3, 1, 0, 0), 0.0, 0.5, NAN, "x"),
        ("b", 1, datetime(2026, 3, 1, 12, 0), 0.005, 1.0, None, None),
        ("c", 1, datetime(2026, 3, 1, 23, 59), 1.0, 1000.0, -INF, "new"),
        ("d", 1, datetime(2026, 3, 1, 23, 59), 0.004999, 999.99, INF, "y"),
        ("e", 2, datetime(2026, 3, 2, 0, 0), 0.5, None, -3.0, "x"),
        ("f", 2, datetime(2026, 3, 2, 1, 0), 0.5, NAN, -2.0, "x"),
        ("g", 2, datetime(2026, 3, 2, 2, 0), 0.9, 1e9, JUST_BELOW_2, "x"),
        ("h", 2, datetime(2026, 3, 2, 3, 0), 0.9, 250.0, 2.0, "x"),
        ("i", 2, datetime(2026, 3, 2, 4, 0), 0.9, 250.1, 50.0, "x"),
    ]
    con.executemany("INSERT INTO pred_m7 VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
    con.execute("CREATE TABLE label (model_id INTEGER, request_id VARCHAR, y DOUBLE)")
    con.executemany(
        "INSERT INTO label VALUES (?, ?, ?)",
        [(7, "a", 1.0), (7, "b", 0.0), (7, "c", 1.0), (7, "zz", 1.0), (8, "d", 1.0)],
    )
    return agg.duckdb_engine(con, logs=agg.StoreTables())


def test_numeric_bins_keep_missing_infinities_and_tails_apart(engine: agg.Engine) -> None:
    got = agg.daily_numeric_counts(
        engine, model_id=7, version=None, days=[DAY1, DAY2], bins={"f1": NumericBins(-2.0, 2.0)}
    )

    assert list(got.columns) == ["version", "day", "feature", "bin", "n", "total"]
    rows = [(r.day.date(), r.bin, r.n, r.total) for r in got.itertuples()]
    assert rows[:3] == [(DAY1, agg.NEG_INF, 1, pytest.approx(NAN, nan_ok=True)),
                        (DAY1, MISSING, 2, pytest.approx(NAN, nan_ok=True)),
                        (DAY1, agg.POS_INF, 1, pytest.approx(NAN, nan_ok=True))]  # fmt: skip
    # -3 under the range, -2 in the first bin, just below 2 capped to the last interior bin,
    # 2 and 50 over the range (their sum kept for the tail's position).
    assert rows[3:] == [
        (DAY2, 0, 1, -3.0), (DAY2, 1, 1, -2.0), (DAY2, FINE_BINS, 1, JUST_BELOW_2),
        (DAY2, FINE_BINS + 1, 2, 52.0),
    ]  # fmt: skip


def test_histogram_bins_fold_infinities_into_the_tails(engine: agg.Engine) -> None:
    got = agg.daily_numeric_counts(
        engine, model_id=7, version=1, days=[DAY1], bins={"f1": NumericBins(-2.0, 2.0)}
    )

    folded = agg.as_histogram_bins(got)

    assert folded["bin"].tolist() == [MISSING, 0, FINE_BINS + 1]
    assert folded["n"].tolist() == [2, 1, 1]
    assert folded["total"].isna().all()  # an infinity has no finite value to place the tail


def test_category_counts_count_missing_as_none(engine: agg.Engine) -> None:
    got = agg.daily_category_counts(engine, model_id=7, version=1, days=[DAY1], columns=["f2"])

    assert list(zip(got["value"], got["n"], strict=True)) == [
        (None, 1),
        ("new", 1),
        ("x", 1),
        ("y", 1),
    ]


def test_score_bins_join_labels_and_count_unlabelled_rows(engine: agg.Engine) -> None:
    got = agg.daily_score_counts(engine, model_id=7, version=None, days=[DAY1, DAY2])

    day1 = got[got["day"] == pd.Timestamp(DAY1)]
    # 0.004999 shares bin 0 with 0 (only 'a' labelled); 0.005 starts bin 1; 1.0 is in the last.
    assert day1[["bin", "n", "labelled", "positives"]].values.tolist() == [
        [0, 2, 1, 1.0], [1, 1, 1, 0.0], [199, 1, 1, 1.0],
    ]  # fmt: skip
    assert got[got["day"] == pd.Timestamp(DAY2)]["labelled"].sum() == 0  # model 8's label: not ours


def test_curve_bins_give_scores_of_one_their_own_bin(engine: agg.Engine) -> None:
    got = agg.daily_score_counts(
        engine, model_id=7, version=1, days=[DAY1], bins=agg.ScoreBins(1000, ones_apart=True)
    )

    assert got["bin"].tolist() == [0, 4, 5, 1000]


def test_traffic_counts_rows_measured_latencies_and_slow_ones(engine: agg.Engine) -> None:
    got = agg.daily_traffic(engine, model_id=7, version=None, days=[DAY1, DAY2], slo_ms=250.0)

    assert got[["rows", "latency_count", "over_slo", "slow"]].values.tolist() == [
        [4, 4, 2, 0], [5, 3, 2, 1]
    ]  # fmt: skip
    assert got["latency_sum"].tolist() == [pytest.approx(2001.49), pytest.approx(1e9 + 500.1)]


def test_latency_bins_place_values_on_an_edge_in_the_bin_it_starts(engine: agg.Engine) -> None:
    got = agg.daily_latency_bins(engine, model_id=7, version=1, days=[DAY1])

    edges = latency_bins.EDGES_MS
    per_decade = latency_bins.PER_DECADE
    assert edges[2 * per_decade] == 1.0 and edges[5 * per_decade] == 1000.0
    assert edges[1] / edges[0] - 1 == pytest.approx(latency_bins.RELATIVE_WIDTH)
    assert latency_bins.RELATIVE_WIDTH < 0.0101
    # 0.5 ms and 999.99 ms just below the 1 ms and 1000 ms edges; 1 ms on its edge.
    expected = [(2 * per_decade - 69, 1), (2 * per_decade + 1, 1), (5 * per_decade, 1),
                (5 * per_decade + 1, 1)]  # fmt: skip
    assert list(zip(got["bin"], got["n"], strict=True)) == expected


def test_quality_counts_nan_as_missing_and_null_as_not_unknown(engine: agg.Engine) -> None:
    got = agg.daily_feature_quality(
        engine, model_id=7, version=1, days=[DAY1], columns=["f1", "f2"], known={"f2": ["x", "y"]}
    )

    assert got[["feature", "missing", "unknown"]].values.tolist() == [["f1", 2, 0], ["f2", 1, 1]]


def test_quality_counts_values_outside_a_range_and_not_missing_ones(engine: agg.Engine) -> None:
    got = agg.daily_feature_quality(
        engine, model_id=7, version=2, days=[DAY2], columns=["f1"], known={},
        ranges={"f1": (-2.0, 2.0)},
    )  # fmt: skip

    # -3 and 50 outside [-2, 2]; -2, just below 2 and 2 inside
    assert got[["feature", "missing", "out_of_range"]].values.tolist() == [["f1", 0, 2]]


def test_score_bins_clamp_scores_outside_the_range(engine: agg.Engine) -> None:
    got = agg.daily_score_bins(
        engine, model_id=7, version=None, days=[DAY1, DAY2], lo=0.1, width=0.2, count=4
    )

    assert got[["bin", "n"]].values.tolist() == [[0, 3], [3, 1], [2, 2], [3, 3]]


def test_only_the_days_and_version_asked_for_are_counted(engine: agg.Engine) -> None:
    got = agg.daily_traffic(engine, model_id=7, version=2, days=[DAY1, DAY2], slo_ms=1.0)
    nothing = agg.daily_traffic(engine, model_id=7, version=1, days=[DAY2], slo_ms=1.0)

    assert got[["version", "rows"]].values.tolist() == [[2, 5]]
    assert nothing.empty and nothing.dtypes.equals(got.dtypes)


def test_parquet_logs_without_files_for_the_days_give_empty_frames(tmp_path: Path) -> None:
    engine = agg.duckdb_engine(duckdb.connect(), logs=agg.ParquetLogs(tmp_path))

    got = agg.daily_score_counts(engine, model_id=1, version=None, days=[DAY1])

    assert got.empty and list(got.columns) == [
        "version", "day", "bin", "n", "score_sum", "labelled", "positives",
    ]  # fmt: skip
