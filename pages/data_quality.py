"""Data quality: what live traffic looked like, what was rejected and why, latency vs the SLO."""

import streamlit as st

from app import charts
from app.data import quality_view, quarantine_samples, revision, store
from app.session import guard
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
for tab, problem, title in zip(
    tabs,
    ("missing", "out_of_range", "unknown_category"),
    ("Missing values", "Values outside the range seen in the reference", "Unknown categories"),
    strict=True,
):
    tab.plotly_chart(
        charts.feature_heatmap(view.features, problem, title, period), key=f"dq_{problem}"
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
st.dataframe(
    batches.drop(columns=["reasons"]),
    hide_index=True,
    column_order=["spike", *(c for c in batches.columns if c not in ("spike", "reasons"))],
    column_config={
        "spike": st.column_config.CheckboxColumn("spike", help="This batch caused a spike."),
        "quarantined_share": st.column_config.ProgressColumn(
            "share rejected", format="percent", min_value=0.0, max_value=1.0
        ),
    },
    key="dq_batches",
)
batch = st.selectbox(
    "Look at the rejected rows of",
    batches["batch_id"],
    format_func=lambda b: f"{batches.set_index('batch_id').loc[b, 'source']} ({b})",
    key="dq_batch",
)
st.dataframe(quarantine_samples(db, rev, model, batch), hide_index=True, key="dq_samples")
