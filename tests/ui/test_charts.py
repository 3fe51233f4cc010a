"""Chart builders (app/charts/): figures drawn where their data says."""

from __future__ import annotations

import pandas as pd
import pytest

from app import charts

DAY_MS = 86_400_000


def _windows(starts: list[str], ends: list[str]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "window_start": pd.to_datetime(starts),
            "window_end": pd.to_datetime(ends),
            "realized_value_per_decision": [1.0, None, None][: len(starts)],
            "measured": [True, False, False][: len(starts)],
            "value_per_period": [1000.0, 1200.0, 900.0][: len(starts)],
        }
    )


@pytest.mark.parametrize(
    ("starts", "ends", "days"),
    [
        (
            ["2026-10-01", "2026-11-01", "2026-12-01"],
            ["2026-11-01", "2026-12-01", "2027-01-01"],
            [31, 30, 31],
        ),
        (["2026-11-02", "2026-11-09"], ["2026-11-09", "2026-11-16"], [7, 7]),
    ],
    ids=["months", "weeks"],
)
def test_value_bars_cover_their_period_from_its_first_day(
    starts: list[str], ends: list[str], days: list[int]
) -> None:
    fig = charts.earnings_trend(_windows(starts, ends), "EUR", None)
    [bar] = [t for t in fig.data if t.type == "bar"]

    # Plotly draws a bar from x + offset to x + offset + width (ms on a date axis).
    assert bar.offset == 0
    assert list(bar.width) == [d * DAY_MS for d in days]
    assert [pd.Timestamp(x) for x in bar.x] == [pd.Timestamp(s) for s in starts]
    drawn_ends = [
        pd.Timestamp(x) + pd.Timedelta(milliseconds=w)
        for x, w in zip(bar.x, bar.width, strict=True)
    ]
    assert drawn_ends == [pd.Timestamp(e) for e in ends]


def _performance(n_labeled: list[int]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "window_start": pd.date_range("2026-03-02", periods=len(n_labeled), freq="W-MON"),
            "n_labeled": n_labeled,
            "metric": "roc_auc",
            "estimated": 0.8,
            "realized": [0.81 if n >= 100 else None for n in n_labeled],
            "lower": 0.7,
            "upper": 0.9,
        }
    )


def test_the_performance_chart_says_why_a_window_has_no_realized_value() -> None:
    fig = charts.realized_vs_estimated(_performance([1000, 60, 0]), "roc_auc", "ROC AUC")

    assert fig.layout.title.text == "ROC AUC: measured on labels vs estimated"
    assert fig.layout.title.subtitle.text == (
        "Realized values need at least 100 labels per window; 2 of 3 windows have fewer, "
        "so only the estimate is shown there."
    )
    [estimated] = [t for t in fig.data if t.name == "estimated"]
    assert list(estimated.customdata) == [1000, 60, 0]
    assert "realized needs at least 100" in estimated.hovertemplate


def test_the_performance_chart_has_no_note_when_every_window_is_labelled() -> None:
    fig = charts.realized_vs_estimated(_performance([1000, 500]), "roc_auc", "ROC AUC")
    assert fig.layout.title.subtitle.text is None


def _daily(days: int, start: str = "2026-11-02", freq: str = "D") -> pd.DataFrame:
    stamps = pd.date_range(start, periods=days, freq=freq)
    return pd.DataFrame(
        {
            "day": stamps,
            "period": stamps,
            "predictions": [100, 120, 90][:days],
            "latency_p50": 10.0,
            "latency_p95": 40.0,
            "latency_p99": 90.0,
            "ingested": [95, 110, 80][:days],
            "quarantined": [5, 10, 10][:days],
            "quarantined_share": [0.05, 0.083, 0.111][:days],
        }
    )


def _drawn_centres(fig) -> list[pd.Timestamp]:
    """Where plotly puts each value: x, moved to the middle of its period when one is set."""
    centres = []
    for trace in fig.data:
        assert trace.xperiodalignment == "middle", trace.name
        half = pd.Timedelta(milliseconds=trace.xperiod / 2)
        centres += [pd.Timestamp(x) + half for x in trace.x]
    return centres


@pytest.mark.parametrize(
    "draw",
    [
        lambda d: charts.daily_volume(d),
        lambda d: charts.latency_percentiles(d, slo_ms=50),
        lambda d: charts.received_vs_quarantined(d, "D"),
    ],
    ids=["traffic volume", "latency", "received vs quarantined"],
)
def test_a_days_bars_and_points_are_drawn_at_its_midday_not_its_midnight(draw) -> None:
    fig = draw(_daily(3))

    centres = _drawn_centres(fig)
    assert centres and {c.hour for c in centres} == {12}
    assert {c.normalize() for c in centres} == set(pd.date_range("2026-11-02", periods=3))


def test_a_weeks_bars_are_drawn_in_the_middle_of_its_seven_days() -> None:
    weeks = _daily(3, freq="W-MON")
    reasons = pd.DataFrame(
        {"period": weeks["period"], "reason": "missing:income", "rows": 5, "share": 0.05}
    )

    for fig in (
        charts.received_vs_quarantined(weeks, "W"),
        charts.rejection_reasons(reasons, "W"),
        charts.latency_percentiles(weeks, period="W"),
    ):
        centres = _drawn_centres(fig)
        # A week from Monday 00:00 has its middle on Thursday at noon.
        assert {(c.day_name(), c.hour) for c in centres} == {("Thursday", 12)}


def test_a_heatmap_cell_covers_its_own_day() -> None:
    rates = pd.DataFrame(
        {
            "feature": ["income", "income"],
            "period": pd.to_datetime(["2026-11-02", "2026-11-03"]),
            "problem": "missing",
            "rate": [0.01, 0.2],
        }
    )

    fig = charts.feature_heatmap(rates, "missing", "Missing values")

    [cell_row] = fig.data
    assert cell_row.xperiod == DAY_MS and cell_row.xperiodalignment == "middle"


def test_importance_without_logged_decisions_draws_training_data_only() -> None:
    # A tester saw a "recent decisions" legend with no bars for a version just promoted.
    importance = pd.DataFrame(
        {"feature": ["alcohol", "ash"], "reference": [0.2, 0.05], "production": [None, None]}
    )

    fig = charts.importance_bars(importance, {"alcohol": "Alcohol"})
    logged = charts.importance_bars(importance.assign(production=[0.1, 0.1]), {})

    assert [t.name for t in fig.data] == ["training data"]
    assert list(fig.data[0].y) == ["Alcohol", "ash"]
    assert fig.layout.title.text.endswith("training data only, no decisions logged yet")
    assert [t.name for t in logged.data] == ["training data", "recent decisions"]


# --- charts that mean something at a glance (issue 18) ---------------------------------------


def test_a_heatmap_with_nothing_above_zero_says_so_instead_of_drawing_a_colour_scale() -> None:
    # A model with no missing values: every rate is 0 (a tester saw solid red blocks on a
    # -40%..+40% scale).
    rates = pd.DataFrame(
        {
            "feature": ["income", "income", "age", "age"],
            "period": pd.to_datetime(["2026-11-02", "2026-11-03"] * 2),
            "problem": "missing",
            "rate": 0.0,
        }
    )

    fig = charts.feature_heatmap(rates, "missing", "Missing values", empty="Nothing to show.")
    none_can = charts.feature_heatmap(rates, "unknown_category", "Unknown categories")

    for drawn in (fig, none_can):
        assert not drawn.data  # no heatmap, so no colour scale
        [note] = drawn.layout.annotations
        assert note.text.startswith("Nothing to show")
    assert fig.layout.annotations[0].text == "Nothing to show."


def _many_reasons() -> pd.DataFrame:
    """Twelve reasons of 5 rows on Monday; on Tuesday, the headline's reason, 'wrong_type:age',
    has 3 rows: fewer than any of Monday's in total."""
    monday = [("2026-11-02", f"missing:f{i:02d}", 5) for i in range(12)]
    tuesday = [("2026-11-03", "wrong_type:age", 3), ("2026-11-03", "missing:f00", 1)]
    frame = pd.DataFrame(monday + tuesday, columns=["period", "reason", "rows"])
    return frame.assign(period=pd.to_datetime(frame["period"]), share=frame["rows"] / 100)


def test_the_latest_periods_largest_rejection_reason_is_named_never_lumped_into_other() -> None:
    fig = charts.rejection_reasons(_many_reasons())

    names = [t.name for t in fig.data]
    assert len(names) == 9  # eight reasons named, the rest as one series
    assert "Unreadable 'age'" in names  # the reason the headline names, in its words
    assert names[-1] == "5 other reasons"
    assert sum(n.startswith("Missing 'f") for n in names) == 7
    tuesday = {t.name: list(t.y) for t in fig.data if pd.Timestamp("2026-11-03") in list(t.x)}
    assert max(tuesday, key=lambda n: tuesday[n][-1]) == "Unreadable 'age'"


def _ranks(features: int, weeks: int = 3) -> pd.DataFrame:
    starts = pd.date_range("2026-11-02", periods=weeks, freq="W-MON")
    rows = [
        # Feature f00 is strongest in the last week, f29 weakest; earlier weeks reversed.
        (start, f"f{i:02d}", (i + 1) if w == weeks - 1 else features - i)
        for w, start in enumerate(starts)
        for i in range(features)
    ]
    return pd.DataFrame(rows, columns=["window_start", "feature", "rank"])


def test_the_rank_chart_of_30_inputs_draws_the_8_strongest_lately_or_those_picked() -> None:
    ranks = _ranks(30)

    drawn = charts.rank_over_time(ranks, {"f00": "Income"})
    picked = charts.rank_over_time(ranks, {}, ["f29", "f03"])

    assert charts.MAX_SERIES == 8
    assert [t.name for t in drawn.data] == ["Income", *(f"f{i:02d}" for i in range(1, 8))]
    assert [t.name for t in picked.data] == ["f29", "f03"]
    assert charts.by_latest_rank(ranks)[:3] == ["f00", "f01", "f02"]
