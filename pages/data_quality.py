"""Data quality: what live traffic looked like, what was rejected and why, latency vs the SLO."""

import streamlit as st

from app import charts
from app.data import quality_view, quarantine_samples, revision, store
from app.session import guard
from app.tables import Column, table
from app.widgets import headline_box, model_picker, save_latency_slo, spike_warnings
from core.monitoring.data_quality import QUALITY_PERIODS
from core.words import PERIODS

identity = guard("data_quality")
st.title("Data quality")

db, rev = store().target, revision()
picked = model_picker("dq", columns=[3, 1])
model, [right] = picked.model, picked.beside
period = (
    right.segmented_control(
        "Per", QUALITY_PERIODS, format_func=PERIODS.get, default="D", key="dq_period"
    )
    or "D"
)
view = quality_view(db, rev, model, period)
headline_box(view.headline)
if view.volume.empty:
    st.stop()

st.plotly_chart(charts.received_vs_quarantined(view.volume, period), key="dq_volume")
if not view.reasons.empty:
    st.plotly_chart(charts.rejection_reasons(view.reasons, period), key="dq_reasons")

st.subheader("Inputs per feature")
tabs = st.tabs(["Missing values", "Outside the reference range", "Unknown categories"])
when = {"D": "these days", "W": "these weeks"}[period]
for tab, problem, title, none_had, none_can in zip(
    tabs,
    ("missing", "out_of_range", "unknown_category"),
    ("Missing values", "Values outside the range seen in the reference", "Unknown categories"),
    (
        f"no input was missing in {when}",
        f"no value left the range seen in the reference in {when}",
        f"no input held a category unseen in the reference in {when}",
    ),
    ("", "no input has a range to leave", "no input has a fixed list of categories"),
    strict=True,
):
    possible = (view.features["problem"] == problem).any()
    tab.plotly_chart(
        charts.feature_heatmap(
            view.features,
            problem,
            title,
            period,
            empty=f"Nothing to show: {none_had if possible else none_can}.",
        ),
        key=f"dq_{problem}",
    )

st.subheader("Latency")
st.plotly_chart(
    charts.latency_percentiles(
        view.latency.rename(columns={"period": "day"}), slo_ms=view.slo_ms, period=period
    ),
    key="dq_latency",
)
save_latency_slo(identity, model, view.slo_ms)

st.subheader("Batches behind the rejections")
batches = view.batches
if batches.empty:
    st.success("No batch had rejected rows.")
    st.stop()
spike_warnings(batches)
table(
    batches,
    {
        "spike": Column("Spike", "flag", help="This batch caused a spike."),
        "source": Column("File"),
        "created_at": Column("Received (UTC)", "time"),
        "rows_read": Column("Rows read", "count"),
        "rows_ingested": Column("Kept", "count"),
        "rows_quarantined": Column("Rejected", "count"),
        "quarantined_share": Column("Share rejected", "percent"),
        "spike_reason": Column("Why a spike"),
        "batch_id": Column("Batch"),
    },
    key="dq_batches",
)
batch = st.selectbox(
    "Look at the rejected rows of",
    batches["batch_id"],
    format_func=lambda b: f"{batches.set_index('batch_id').loc[b, 'source']} ({b})",
    key="dq_batch",
)
table(
    quarantine_samples(db, rev, model, batch),
    {
        "line": Column("Line", "count"),
        "reasons": Column("Why rejected"),
        "raw": Column("Row as received"),
    },
    key="dq_samples",
)
