"""Data-quality details on a real store: feature rates, spike batches and their drill-down,
re-sending a file, and the overview's threshold gain and attention list.

Clean log rows are taken from the reference itself (inside its ranges and categories), so every
problem counted below is one we wrote into the file."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from app.widgets import escape_markdown
from core.auth import Identity
from core.ingest import ingest_labels, ingest_predictions, quarantine
from core.monitoring import alerts, data_quality
from core.monitoring.policy import update_settings
from core.registry import RegistrationSpec, features_of, get_model, get_version, register_version
from core.store import Store, log_tables
from core.value import business_case, kpi
from core.words import money
from tests.conftest import copy_store, run_cli
from tests.factories import Case
from tests.monitoring.test_alerts import _log_day, _register
from tests.ui_helpers import MAIN, switch_path

ENGINEER = Identity("erin", "ml_engineer")
OWNER = Identity("olga", "product_owner")
MANAGER = Identity("mia", "manager")
CASE = {"threshold": 0.2, "value_tp": -150, "value_fp": 60, "value_tn": 300, "value_fn": -2500,
        "volume_per_period": 1000, "period": "W", "unit": "EUR"}  # fmt: skip


def write_log(
    folder: Path, name: str, reference: Path, start: int, n: int, day: str
) -> tuple[Path, pd.DataFrame]:
    """N reference rows from row START as a log file of DAY (hourly); edit the frame, then save."""
    rows = (
        pd.read_csv(reference)
        .iloc[start : start + n]
        .drop(columns=["defaulted"])
        .reset_index(drop=True)
    )
    rows["income"] = rows["income"].astype(object)
    rows["request_id"] = [f"{name}-{i}" for i in range(n)]
    rows["timestamp"] = pd.date_range(day, periods=n, freq="h", tz="UTC")
    return folder / f"{name}.csv", rows


def ingest(store: Store, path: Path, rows: pd.DataFrame) -> str:
    """Save ROWS to PATH, ingest it for 'credit' and return its batch id."""
    rows.to_csv(path, index=False)
    [result] = ingest_predictions(store, model="credit", files=[path])
    assert result.error is None, result.error
    return result.batch_id


# --- 1. missing, out-of-range and unknown-category rates per feature and period --------------


def test_feature_rates_count_exactly_the_bad_values_written_into_the_logs(
    credit_store: Store, binary_files: Case, tmp_path: Path
) -> None:
    # Monday: 20 rows; income missing in 2 (quarantined: the reference never lacked it),
    # debt ratio 500 in 3 (kept, flagged), segment 'gov' in 1 (kept, flagged).
    path, monday = write_log(tmp_path, "mon", binary_files.reference, 0, 20, "2026-03-02")
    monday.loc[[0, 1], "income"] = None
    monday.loc[[2, 3, 4], "debt ratio"] = 500.0
    monday.loc[5, "segment"] = "gov"
    ingest(credit_store, path, monday)
    # Tuesday: 10 rows; income 1e9 in 1 (kept), segment missing in 1 (quarantined).
    path, tuesday = write_log(tmp_path, "tue", binary_files.reference, 20, 10, "2026-03-03")
    tuesday.loc[0, "income"] = 1e9
    tuesday.loc[1, "segment"] = None
    ingest(credit_store, path, tuesday)

    with credit_store.read() as r:
        model = get_model(r, name="credit")
        features = features_of(get_version(r, model=model))
        daily = data_quality.feature_rates(r, model=model, features=features, period="D")
        weekly = data_quality.feature_rates(r, model=model, features=features, period="W")

    def table(frame: pd.DataFrame) -> dict[tuple[str, str, str], tuple[int, float]]:
        return {
            (f"{p:%Y-%m-%d}", f, k): (n, round(rate, 12))
            for p, f, k, n, rate in frame.itertuples(index=False)
        }

    # Only the problems each input can have: a number has no unknown category, a category no
    # range to leave.
    can_have = {
        "income": ("missing", "out_of_range"),
        "debt ratio": ("missing", "out_of_range"),
        "segment": ("missing", "unknown_category"),
    }
    bad = {
        ("2026-03-02", "income", "missing"): 2,
        ("2026-03-02", "debt ratio", "out_of_range"): 3,
        ("2026-03-02", "segment", "unknown_category"): 1,
        ("2026-03-03", "income", "out_of_range"): 1,
        ("2026-03-03", "segment", "missing"): 1,
    }
    received = {"2026-03-02": 20, "2026-03-03": 10}
    expected_daily = {
        (day, f, k): (bad.get((day, f, k), 0), round(bad.get((day, f, k), 0) / total, 12))
        for day, total in received.items()
        for f, problems in can_have.items()
        for k in problems
    }
    assert table(daily) == expected_daily
    # Both days fall in the ISO week of Monday 2026-03-02: 30 rows received.
    week = {(f, k): 0 for f, problems in can_have.items() for k in problems}
    for (_, f, k), n in bad.items():
        week[f, k] += n
    assert table(weekly) == {
        ("2026-03-02", f, k): (n, round(n / 30, 12)) for (f, k), n in week.items()
    }


# --- 2 and 3. batches that caused a spike, and their rejected rows ----------------------------


@pytest.fixture(scope="module")
def spiky(tmp_path_factory: pytest.TempPathFactory, binary_files: Case) -> dict[str, object]:
    """A store with four clean batches, one mild one (1 of 40 rejected) and one clearly bad one
    (12 of 40 rejected); returns its path, the batch ids and the rejected rows per batch."""
    folder = tmp_path_factory.mktemp("spiky")
    store = Store(folder / "store.duckdb", lock_wait_seconds=60)
    store.init()
    register_version(store, spec=RegistrationSpec(
        model="credit", reference=binary_files.reference, target="defaulted", prediction="score",
        model_file=binary_files.model_file, created_by="erin",
    ))  # fmt: skip
    ids, rejected = {}, {}
    for i in range(4):
        path, rows = write_log(
            folder, f"clean-{i}", binary_files.reference, 40 * i, 40, "2026-03-02"
        )
        ids[f"clean-{i}"] = ingest(store, path, rows)
    path, rows = write_log(folder, "mild", binary_files.reference, 160, 40, "2026-03-03")
    rows.loc[7, "income"] = None
    ids["mild"], rejected["mild"] = ingest(store, path, rows), {"mild-7": "missing:income"}
    path, rows = write_log(folder, "bad", binary_files.reference, 200, 40, "2026-03-04")
    rows.loc[range(0, 24, 2), "segment"] = None
    ids["bad"] = ingest(store, path, rows)
    rejected["bad"] = {f"bad-{i}": "missing:segment" for i in range(0, 24, 2)}
    return {"db": store.path, "ids": ids, "rejected": rejected, "folder": folder}


def test_only_the_clearly_bad_batch_among_clean_ones_is_marked_as_a_spike(spiky: dict) -> None:
    with Store(spiky["db"]).read() as r:
        found = data_quality.batches(r, model=get_model(r, name="credit"))

    ids = spiky["ids"]
    # Only batches with rejected rows are listed, the spike first.
    assert list(found["batch_id"]) == [ids["bad"], ids["mild"]]
    assert list(found["spike"]) == [True, False]
    assert list(found["rows_quarantined"]) == [12, 1]
    assert list(found["quarantined_share"]) == pytest.approx([12 / 40, 1 / 40])
    # Six batches, shares 0, 0, 0, 0, 2.5%, 30%: the median is 0. The mild batch is above
    # twice that, but under the 5-point floor.
    assert found["spike_reason"].iloc[0] == (
        "30.0% of its rows were rejected, against a typical 0.0% (median of 6 batches)"
    )
    assert pd.isna(found["spike_reason"].iloc[1])
    assert Path(found["source"].iloc[0]).name == "bad.csv"


def test_a_feed_that_always_loses_some_rows_marks_only_the_batch_far_above_its_usual_share(
    credit_store: Store, binary_files: Case, tmp_path: Path
) -> None:
    lost = {"a": 4, "b": 4, "c": 5, "d": 12}  # of 40 rows each: 10%, 10%, 12.5%, 30%
    ids = {}
    for i, (name, n) in enumerate(lost.items()):
        path, rows = write_log(tmp_path, name, binary_files.reference, 40 * i, 40, "2026-03-02")
        rows.loc[range(n), "income"] = None
        ids[name] = ingest(credit_store, path, rows)

    with credit_store.read() as r:
        found = data_quality.batches(r, model=get_model(r, name="credit"))

    marked = dict(zip(found["batch_id"], found["spike"], strict=True))
    # Median 11.25%: 30% is over twice that and 18.75 points above; 12.5% is not.
    assert marked == {ids["d"]: True, ids["c"]: False, ids["a"]: False, ids["b"]: False}
    assert found["batch_id"].iloc[0] == ids["d"]
    assert found["spike_reason"].iloc[0] == (
        "30.0% of its rows were rejected, against a typical 11.2% (median of 4 batches)"
    )


def test_a_quarantine_retry_is_listed_but_never_reported_as_a_traffic_spike(
    spiky: dict, tmp_path: Path
) -> None:
    store = copy_store(spiky["db"], tmp_path)
    [again] = quarantine.retry(store, model="credit", batch_id=spiky["ids"]["bad"])  # still fails

    with store.read() as r:
        found = data_quality.batches(r, model=get_model(r, name="credit"))

    ids = spiky["ids"]
    assert (again.rows_read, again.rows_quarantined, again.source) == (
        12, 12, "retry of " + str(spiky["folder"] / "bad.csv")
    )  # fmt: skip
    assert list(found["batch_id"]) == [ids["bad"], again.batch_id, ids["mild"]]
    assert list(found["spike"]) == [True, False, False]
    assert list(found["quarantined_share"]) == pytest.approx([12 / 40, 1.0, 1 / 40])
    # The re-sent rows are not traffic: the typical share is still over the six real batches.
    assert found["spike_reason"].iloc[0] == (
        "30.0% of its rows were rejected, against a typical 0.0% (median of 6 batches)"
    )
    assert found["spike_reason"].iloc[1:].isna().all()


@pytest.fixture
def open_page(monkeypatch: pytest.MonkeyPatch) -> Callable[[Path, Identity, str], AppTest]:
    """Factory: the app on store DB, signed in as IDENTITY, showing PAGE."""

    def make(db: Path, identity: Identity, page: str) -> AppTest:
        monkeypatch.setenv("MODELBRIDGE_DB", str(db))
        st.cache_data.clear()
        st.cache_resource.clear()
        at = AppTest.from_file(str(MAIN), default_timeout=60)
        at.session_state["identity"] = identity
        at.run()
        if page != "overview":
            at.switch_page(switch_path(page)).run()
        assert not at.exception, at.exception[0].stack_trace
        return at

    return make


def table_with(at: AppTest, column: str) -> pd.DataFrame:
    """The first st.dataframe with COLUMN (AppTest has no keys for read-only tables)."""
    return next(df.value for df in at.dataframe if column in df.value.columns)


def test_the_data_quality_page_puts_the_spike_batch_first_and_says_why(
    spiky: dict, open_page: Callable
) -> None:
    at = open_page(spiky["db"], ENGINEER, "data_quality")
    ids = spiky["ids"]
    bad_file = str(spiky["folder"] / "bad.csv")

    reason = "30.0% of its rows were rejected, against a typical 0.0% (median of 6 batches)"
    # File names and ids are data: shown with their Markdown characters escaped.
    assert [w.value for w in at.warning if w.value.startswith("Spike:")] == [
        f"Spike: **{escape_markdown(bad_file)}** (batch {escape_markdown(ids['bad'])}). "
        f"{escape_markdown(reason)}."
    ]
    table = table_with(at, "Spike")
    assert list(table["Batch"]) == [ids["bad"], ids["mild"]]
    assert list(table["Spike"]) == ["yes", "no"]
    assert list(table["Rejected"]) == ["12", "1"]
    assert list(table["Share rejected"]) == ["30.0%", "2.5%"]
    # Only the spike has a reason; the other batch reads a dash, never None.
    assert list(table["Why a spike"]) == [reason, "–"]


def test_choosing_a_batch_shows_its_rejected_rows_with_their_reasons(
    spiky: dict, open_page: Callable
) -> None:
    at = open_page(spiky["db"], ENGINEER, "data_quality")
    ids = spiky["ids"]
    assert at.selectbox(key="dq_batch").value == ids["bad"]  # the spike, shown first

    def shown() -> dict[str, tuple[int, str]]:
        rows = table_with(at, "Row as received")
        return {
            json.loads(raw)["request_id"]: (int(line), reasons)
            for line, reasons, raw in rows[["Line", "Why rejected", "Row as received"]].itertuples(
                index=False
            )
        }

    bad = shown()
    assert {rid: reasons for rid, (_, reasons) in bad.items()} == spiky["rejected"]["bad"]
    # CSV line numbers count the data rows from 1.
    assert {rid: line for rid, (line, _) in bad.items()} == {
        f"bad-{i}": i + 1 for i in range(0, 24, 2)
    }

    at.selectbox(key="dq_batch").set_value(ids["mild"]).run()

    assert not at.exception, at.exception
    assert shown() == {"mild-7": (8, "missing:income")}
    [raw] = table_with(at, "Row as received")["Row as received"]
    assert json.loads(raw)["income"] is None


# --- 4. re-sending a file that was already ingested ------------------------------------------


def test_ingesting_the_same_file_twice_says_so_and_adds_nothing(
    credit_store: Store, binary_files: Case, tmp_path: Path
) -> None:
    path, rows = write_log(tmp_path, "once", binary_files.reference, 0, 30, "2026-03-02")
    rows.loc[0, "income"] = None
    rows.to_csv(path, index=False)
    db = credit_store.path

    def counts() -> tuple[int, int, int]:
        with Store(db).read() as r:
            table = log_tables.pred_table(get_model(r, name="credit").id)
            [(kept,)] = r.rows(f"SELECT count(*) FROM {table}")
            [(held,)] = r.rows("SELECT count(*) FROM quarantine")
            [(batches,)] = r.rows("SELECT count(*) FROM batch")
        return kept, held, batches

    first = run_cli("ingest", "credit", path, "--json", db=db)
    assert first.code == 0, first.err
    batch = first.json()["batch_id"]
    assert (first.json()["rows_ingested"], first.json()["rows_quarantined"]) == (29, 1)
    assert counts() == (29, 1, 1)

    again = run_cli("ingest", "credit", path, db=db)
    assert again.code == 0, again.err
    assert again.out == f"{path}: already ingested as batch {batch}; nothing to do\n"
    assert again.err == ""

    as_json = run_cli("ingest", "credit", path, "--json", db=db)
    assert as_json.code == 0, as_json.err
    record = as_json.json()
    assert record["duplicate_of"] == batch
    assert (record["batch_id"], record["rows_read"], record["rows_ingested"]) == (None, 0, 0)
    assert counts() == (29, 1, 1)


# --- 5. the gain of the best threshold, and the overview's attention list --------------------


def test_the_gain_of_moving_to_the_best_threshold_is_the_value_difference_times_volume(
    credit_store: Store, binary_files: Case, open_page: Callable
) -> None:
    ingest_predictions(credit_store, model="credit", files=[binary_files.logs])
    ingest_labels(credit_store, model="credit", files=[binary_files.labels])
    business_case.save(credit_store, model="credit", changes=CASE, by=OWNER)

    # By hand: every labelled decision earns its confusion-matrix cell's value.
    scores = pd.read_parquet(binary_files.logs)[["request_id", "score"]]
    labelled = scores.merge(pd.read_csv(binary_files.labels), on="request_id")
    y, s = labelled["defaulted"].to_numpy(), labelled["score"].to_numpy()

    def value_per_decision(t: float) -> float:
        flag = s >= t
        cells = np.select(
            [flag & (y == 1), flag & (y == 0), ~flag & (y == 0)],
            [CASE["value_tp"], CASE["value_fp"], CASE["value_tn"]],
            CASE["value_fn"],
        )
        return float(cells.mean())

    grid = [k / kpi.CURVE_BINS for k in range(kpi.CURVE_BINS + 1)]
    values = [value_per_decision(t) for t in grid]
    best = int(np.argmax(values))  # the lowest threshold on ties, as the page says
    now = value_per_decision(CASE["threshold"])
    gain = (values[best] - now) * CASE["volume_per_period"]
    assert gain > 0  # the case's threshold is not the best one on this data

    with credit_store.read() as r:
        model = get_model(r, name="credit")
        summary = kpi.summary(r, model=model, version=get_version(r, model=model))
    assert summary.n_labeled == len(labelled)
    assert summary.optimal_threshold == pytest.approx(grid[best])
    assert summary.value_per_decision_at_threshold == pytest.approx(now)
    assert summary.value_per_decision_at_optimum == pytest.approx(values[best])

    at = open_page(credit_store.path, OWNER, "kpi")
    sentence = next(m.value for m in at.markdown if m.value.startswith("Moving the threshold"))
    # Thresholds in points out of 100, as scores are on every page; the basis says what the
    # figure stands on.
    assert sentence.startswith(
        f"Moving the threshold from {CASE['threshold'] * 100:g} to {grid[best] * 100:g} would "
        f"add about {money(gain, 'EUR')} per week. Measured on {len(labelled):,} "
    )
    assert sentence.endswith("; per week at 1,000 decisions (the business case's volume).")


@pytest.fixture(scope="module")
def clean_days(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Model 'm' judged per day, three days logged like its reference (as in test_alerts)."""
    folder = tmp_path_factory.mktemp("attention")
    store = Store(folder / "store.duckdb", lock_wait_seconds=60)
    store.init()
    _register(store, folder, seed=0)
    update_settings(store, model="m", changes={"alerts.period": "D"}, by=ENGINEER)
    for day in range(3):
        _log_day(store, folder, day, x_mean=0.0)
    return store.path


def _copy(db: Path, folder: Path) -> Store:
    return copy_store(db, folder, lock_wait_seconds=60)


def _attention(at: AppTest) -> list[str]:
    return [m.value for m in at.markdown if m.value.startswith("- ")]


def test_the_overview_lists_an_open_alert_under_what_needs_attention(
    clean_days: Path, tmp_path: Path, open_page: Callable
) -> None:
    store = _copy(clean_days, tmp_path)
    for day in (3, 4):
        _log_day(store, tmp_path, day, x_mean=1.0)
    alerts.refresh(store, model="m")
    with store.read() as r:
        opened = alerts.list_alerts(r, model=get_model(r, name="m"), open_only=True)
    assert any((a["kind"], a["feature"]) == ("drift", "x") for a in opened)
    n = len(opened)

    at = open_page(store.path, MANAGER, "overview")

    assert _attention(at)[:2] == [
        "- Version 1 is registered and not yet in review.",
        f"- {n} open alert{'' if n == 1 else 's'}, {n} not yet acknowledged.",
    ]
    # Each alert in plain words for the manager, no statistic.
    assert "- Since 5 Mar 2026, x values differ a lot from those the model was trained on." in (
        _attention(at)
    )
    assert len(_attention(at)) == 2 + n
    assert not any("wasserstein" in m.lower() for m in _attention(at))


def test_the_overview_lists_no_alert_when_none_is_open(
    clean_days: Path, tmp_path: Path, open_page: Callable
) -> None:
    store = _copy(clean_days, tmp_path)
    assert alerts.refresh(store, model="m").opened == []

    at = open_page(store.path, MANAGER, "overview")

    assert _attention(at) == ["- Version 1 is registered and not yet in review."]
    assert not any("alert" in m.value for m in at.markdown)
