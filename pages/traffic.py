"""Traffic: volume, prediction scores and latency of a model in production, per day."""

import streamlit as st

from app import charts
from app.data import quality_headline, revision, store, traffic_span, traffic_view
from app.session import guard
from app.text import escape_markdown
from app.widgets import headline_box, model_picker
from core.words import score

guard("traffic")
st.title("Traffic")

db, rev = store().target, revision()
picked = model_picker("traffic", columns=[2, 1, 2], versions="all")
model, version, [right] = picked.model, picked.version, picked.beside
span = traffic_span(db, rev, model)
first, last = span.first, span.last
if not span.predictions:
    st.info(
        f"No predictions logged for {escape_markdown(model)} yet. Send some with "
        "`modelbridge ingest MODEL FILE`."
    )
    st.stop()
days = right.date_input(
    "Days",
    value=(first, last),
    min_value=first,
    max_value=last,
    key=f"traffic_days_{model}_{first}_{last}",
)
start, end = (days[0], days[-1]) if isinstance(days, tuple) and days else (first, last)

headline_box(quality_headline(db, rev, model))
view = traffic_view(db, rev, model, version, start, end)
a, b, c, d = st.columns(4)
a.metric("Predictions", f"{view.predictions:,}")
b.metric("Per day", f"{view.predictions / max(len(view.daily), 1):,.0f}")
if view.task == "binary":
    c.metric("Mean score", score(view.mean_score))
else:
    c.metric("Mean prediction", "–" if view.mean_score is None else f"{view.mean_score:,.4g}")
d.metric(
    "Latency p95",
    "–" if view.latency_p95 is None else f"{view.latency_p95:.0f} ms",
    help="95% of requests were answered faster than this.",
)

st.plotly_chart(charts.daily_volume(view.daily), key="chart_volume")
st.plotly_chart(
    charts.score_heatmap(view.scores, as_points=view.task == "binary"), key="chart_scores"
)
st.plotly_chart(charts.latency_percentiles(view.daily), key="chart_latency")
