"""Data quality on traffic with untrustworthy timestamps: a row rejected for its timestamp is
placed when it arrived, never at the time it claims, and never after the last real traffic."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from core.monitoring import data_quality
from core.registry import features_of, get_model, get_version
from core.store import Store
from core.value import overview
from tests.factories import Case
from tests.monitoring.test_data_quality import ingest, write_log

MON, TUE = pd.Timestamp("2026-03-02"), pd.Timestamp("2026-03-03")


def _with_junk_timestamps(rows: pd.DataFrame, junk: dict[int, str]) -> pd.DataFrame:
    rows["timestamp"] = rows["timestamp"].map(lambda t: t.strftime("%Y-%m-%dT%H:%M:%SZ"))
    for i, text in junk.items():
        rows.loc[i, "timestamp"] = text
    return rows


@pytest.fixture
def backfilled(credit_store: Store, binary_files: Case, tmp_path: Path) -> Store:
    """Monday's file: 20 rows, two stamped 2031 and one 'yesterday'; Tuesday's: 10 clean rows."""
    path, monday = write_log(tmp_path, "mon", binary_files.reference, 0, 20, "2026-03-02")
    future = "2031-01-01T00:00:00Z"
    junk = {0: future, 1: future, 2: "yesterday"}
    ingest(credit_store, path, _with_junk_timestamps(monday, junk))
    path, tuesday = write_log(tmp_path, "tue", binary_files.reference, 20, 10, "2026-03-03")
    ingest(credit_store, path, tuesday)
    return credit_store


def test_rows_with_a_future_or_unreadable_timestamp_count_among_their_own_files_requests(
    backfilled: Store,
) -> None:
    with backfilled.read() as r:
        model = get_model(r, name="credit")
        daily = data_quality.volume(r, model=model, period="D")
        weekly = data_quality.volume(r, model=model, period="W")
        why = data_quality.reasons(r, model=model, period="D")
        rates = data_quality.feature_rates(
            r, model=model, features=features_of(get_version(r, model=model)), period="D"
        )

    # Received at ingest time, months after the traffic; placed at Monday's last good request.
    assert [tuple(row) for row in daily.itertuples(index=False)] == [
        (MON, 20, 17, 3, 0.15),
        (TUE, 10, 10, 0, 0.0),
    ]
    assert [tuple(row) for row in weekly.itertuples(index=False)] == [(MON, 30, 27, 3, 0.1)]
    assert [tuple(row) for row in why.itertuples(index=False)] == [
        (MON, "future_timestamp", 2, pytest.approx(2 / 20)),
        (MON, "bad_timestamp", 1, pytest.approx(1 / 20)),
    ]
    assert sorted(set(rates["period"])) == [MON, TUE]


def test_a_junk_timestamp_does_not_become_the_headline_or_turn_the_overview_light_red(
    backfilled: Store,
) -> None:
    with backfilled.read() as r:
        model = get_model(r, name="credit")
        head = data_quality.headline(r, model=model, period="D")
        lights = overview.lights(r, model=model, version=get_version(r, model=model))

    assert head == data_quality.Headline(
        "2026-03-03", "All 10 requests on 3 Mar 2026 passed the checks.", "ok"
    )
    assert {light.name: light.status for light in lights}["Data quality"] == overview.GREEN


def test_a_file_of_only_junk_timestamps_lands_on_the_newest_real_request_not_after_it(
    backfilled: Store, binary_files: Case, tmp_path: Path
) -> None:
    path, late = write_log(tmp_path, "late", binary_files.reference, 40, 2, "2026-03-04")
    junk = {0: "2031-01-01T00:00:00Z", 1: "2032-01-01T00:00:00Z"}
    ingest(backfilled, path, _with_junk_timestamps(late, junk))

    with backfilled.read() as r:
        model = get_model(r, name="credit")
        daily = data_quality.volume(r, model=model, period="D")
        head = data_quality.headline(r, model=model, period="D")

    assert [tuple(row) for row in daily.itertuples(index=False)][-1] == (TUE, 12, 10, 2, 2 / 12)
    assert head.period == "2026-03-03"
    assert head.text == (
        "16.7% of the 12 requests on 3 Mar 2026 were rejected, mostly a timestamp in the "
        "future (2 rows)."
    )


def test_with_no_trustworthy_time_at_all_a_rejected_row_is_placed_when_it_arrived(
    credit_store: Store, binary_files: Case, tmp_path: Path
) -> None:
    before = datetime.now(UTC).replace(tzinfo=None)
    path, rows = write_log(tmp_path, "junk", binary_files.reference, 0, 2, "2026-03-02")
    ingest(credit_store, path, _with_junk_timestamps(rows, {0: "2031-01-01T00:00:00Z", 1: "x"}))
    after = datetime.now(UTC).replace(tzinfo=None)

    with credit_store.read() as r:
        model = get_model(r, name="credit")
        daily = data_quality.volume(r, model=model, period="D")
        weekly = data_quality.volume(r, model=model, period="W")

    arrived = {pd.Timestamp(before.date()), pd.Timestamp(after.date())}
    [(day, received, ingested, quarantined, share)] = daily.itertuples(index=False)
    assert day in arrived and (received, ingested, quarantined, share) == (2, 0, 2, 1.0)
    [(week, *_)] = weekly.itertuples(index=False)
    assert week <= pd.Timestamp(after) and week > pd.Timestamp(before - timedelta(days=7))
