"""The one table helper (app/tables.py): every value in words, units and rounded numbers, dates
as people read them and a dash for anything missing (issue 18)."""

from __future__ import annotations

import pandas as pd

from app.tables import Column, display


def test_a_tidy_frame_reads_like_a_report() -> None:
    frame = pd.DataFrame(
        {
            "value_per_decision_at_threshold": [3_423_543.6893, None],
            "optimal_threshold": [0.355, 0.5],
            "share": [0.0347, float("nan")],
            "n": [52_074, 0],
            "day": [pd.Timestamp("2026-05-01 00:00:00"), pd.NaT],
            "at": [pd.Timestamp("2026-05-01 14:05:09", tz="UTC"), None],
            "score": [0.314, None],
            "version": [2, pd.NA],
            "stage": ["production", "in_review"],
            "action": ["request_review", ""],
            "after": ['{"stage": "in_review", "previous": null}', "{}"],
            "unused": ["not shown", "not shown"],
        }
    )

    shown = display(
        frame,
        {
            "value_per_decision_at_threshold": Column("Value per decision", "money", "EUR"),
            "optimal_threshold": Column("Best threshold", "points"),
            "share": Column("Share rejected", "percent"),
            "n": Column("Decisions", "count"),
            "day": Column("Day", "date"),
            "at": Column("When (UTC)", "time"),
            "score": Column("Score", "score"),
            "version": Column("Version", "version"),
            "stage": Column("Stage", "stage"),
            "action": Column("Action", "term"),
            "after": Column("After", "record"),
        },
    )

    assert shown.to_dict(orient="records") == [
        {
            "Value per decision": "3.42 M EUR",
            "Best threshold": "35.5",
            "Share rejected": "3.5%",
            "Decisions": "52,074",
            "Day": "1 May 2026",
            "When (UTC)": "1 May 2026 14:05",
            "Score": "31 / 100",
            "Version": "v2",
            "Stage": "live",
            "Action": "request review",
            "After": "stage: in_review; previous: –",
        },
        {
            "Value per decision": "–",
            "Best threshold": "50",
            "Share rejected": "–",
            "Decisions": "0",
            "Day": "–",
            "When (UTC)": "–",
            "Score": "–",
            "Version": "–",
            "Stage": "in review",
            "Action": "–",
            "After": "–",
        },
    ]
