"""Drift: are production inputs, scores and outcomes still like the training data?"""

import pandas as pd
import streamlit as st

from app import charts, tables
from app.data import alerts_view, distribution_view, drift_view, revision, store
from app.session import guard
from app.text import escape_markdown, unescape_plotly
from app.widgets import alert_list, model_picker
from core.metrics import metric_name
from core.monitoring.drift_report import RANKED_WINDOWS
from core.words import PERIODS

identity = guard("drift")
st.title("Drift")
db, rev = store().target, revision()
picked = model_picker("drift", columns=[2, 1, 2], versions="opening")
model, version, [right] = picked.model, picked.version, picked.beside
windows = {PERIODS[p]: (p, None) for p in ("W", "D", "M")} | {
    "5,000 rows": (None, 5000),
    "20,000 rows": (None, 20000),
}
period, chunk = windows[right.selectbox("Window", list(windows), key="drift_window")]

view = drift_view(db, rev, model, version, period, chunk)
if view.drift.empty:
    st.info("No predictions logged for this version yet.")
    st.stop()
st.info(escape_markdown(view.status))

alert_list(identity, model, alerts_view(db, rev, model, True))


def _clicked() -> None:
    """Remember a clicked square; the select boxes below show it on this rerun."""
    points = st.session_state["drift_heatmap"]["selection"]["points"]
    if points:
        st.session_state["drift_clicked"] = points[0]


scores = view.scores
st.plotly_chart(
    charts.drift_heatmap(scores), key="drift_heatmap", on_select=_clicked, selection_mode="points"
)
features = sorted(scores["feature"].unique())
starts = sorted(scores["window_start"].unique())
ranked = view.ranking
# Keyed select boxes keep their own state and ignore a changed `index`, so a click is written
# into that state; a choice no longer offered falls back to the top feature and latest window.
clicked = st.session_state.pop("drift_clicked", None)
clicked_feature = unescape_plotly(str(clicked.get("y"))) if clicked else None
if clicked and clicked_feature in features and pd.Timestamp(clicked.get("x")) in starts:
    st.session_state["drift_feature"] = clicked_feature
    st.session_state["drift_window_start"] = pd.Timestamp(clicked["x"])
if st.session_state.get("drift_feature") not in features:
    st.session_state["drift_feature"] = ranked.iloc[0]["feature"]
if st.session_state.get("drift_window_start") not in starts:
    st.session_state["drift_window_start"] = starts[-1]
a, b = st.columns(2)
feature = a.selectbox("Feature", features, key="drift_feature")
window = b.selectbox(
    "Window",
    starts,
    format_func=lambda t: f"{pd.Timestamp(t):%Y-%m-%d}",
    key="drift_window_start",
)
dist = distribution_view(db, rev, model, view.version, period, chunk, feature, window)
st.plotly_chart(
    charts.distribution_overlay(dist, feature, f"{pd.Timestamp(window):%Y-%m-%d}"),
    key="drift_overlay",
)

st.subheader("What changed most")
recent = min(RANKED_WINDOWS, len(starts))
st.caption(
    f"Over the last {recent} windows, the method that decides each input's verdict. A window "
    "counts as drifted when the value is above both its usual range (how much the value "
    "varies between samples of the training data of that window's size) and the minimum "
    "effect worth a look, or above a threshold fixed in the model's settings; the threshold "
    "is the higher of the two. Values, range, threshold and rule are the latest window's."
)
table = ranked.assign(
    drifted_of=[
        f"{int(d)} of {int(n)}"
        for d, n in zip(ranked["drifted_windows"], ranked["windows"], strict=True)
    ],
)
tables.table(
    table,
    {
        "feature": tables.Column("Input"),
        "method": tables.Column("Measured by", "term"),
        "value": tables.Column("Latest value", "number"),
        "usual_range": tables.Column("Usual range"),
        "threshold": tables.Column("Threshold (latest window)", "number"),
        "drifted_of": tables.Column("Windows drifted"),
        "score": tables.Column("× threshold (average)", "number"),
        "rule": tables.Column("Why (latest window)"),
    },
    key="drift_ranking",
)

tabs = st.tabs(["Model scores", "All inputs together", "Performance"])
pred = scores[scores["feature"] == "prediction"]
tabs[0].plotly_chart(
    charts.signal_over_time(pred, "value", "Drift of the model's scores", threshold="threshold"),
    key="drift_prediction",
)
multi = view.multivariate
if len(multi):
    tabs[1].plotly_chart(
        charts.signal_over_time(
            multi, "value", "Reconstruction error of the inputs (PCA)", lower="lower", upper="upper"
        ),
        key="drift_multivariate",
    )
perf = view.performance
metrics = list(dict.fromkeys(perf["metric"]))
metric = tabs[2].selectbox("Metric", metrics, format_func=metric_name, key="drift_metric")
tabs[2].plotly_chart(
    charts.realized_vs_estimated(perf, metric, metric_name(metric)),
    key="drift_performance",
)
tabs[2].caption(
    "Estimated values need no labels: they come from the model's scores (and, for a "
    "regression, its inputs) and the errors seen on the reference. Where labels have arrived, "
    "compare both lines to see how good the estimate is."
)
