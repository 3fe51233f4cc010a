"""Business value: what the model's decisions are worth, and what a better threshold would add."""

import pandas as pd
import streamlit as st

from app import charts
from app.data import compare_view, kpi_view, models_table, revision, store
from app.session import guard
from app.widgets import business_case_form
from core.errors import ModelBridgeError
from core.health import money

identity = guard("kpi")
st.title("Business value")
db, rev = str(store().path), revision()
models = models_table(db, rev)
if not models:
    st.info("No models are registered yet.")
    st.stop()
model = st.selectbox("Model", [m["name"] for m in models], key="kpi_model")
entry = next(m for m in models if m["name"] == model)
view = kpi_view(db, rev, model, None)
case, summary = view["case"], view["summary"]
unit = case["unit"]

with st.expander(
    "Business case" + (f" (revision {case.revision})" if case.revision else ""),
    expanded=not case.revision,
):
    business_case_form(identity, model, view["task"], case)

if view["task"] == "binary":
    st.subheader("Where to set the threshold")
    curve = view["curve"]
    if summary.n_labeled == 0:
        st.info("No outcomes have arrived yet, so the value of each threshold cannot be measured.")
    else:
        chosen = st.slider(
            "Threshold",
            0.0,
            1.0,
            float(case["threshold"]),
            step=0.005,
            key="kpi_threshold",
            help=f"Cases scoring at or above it are {case['positive_action']}.",
        )
        at = curve.iloc[int(round(chosen * (len(curve) - 1)))]
        now = curve.iloc[int(round(float(case["threshold"]) * (len(curve) - 1)))]
        volume = case["volume_per_period"] or summary.n_labeled
        a, b, c = st.columns(3)
        a.metric(
            "Value per decision at this threshold",
            money(at["value_per_decision"], unit),
            delta=money(at["value_per_decision"] - now["value_per_decision"], unit),
        )
        b.metric(
            "Per period",
            money(at["value_per_decision"] * volume, unit),
            delta=money((at["value_per_decision"] - now["value_per_decision"]) * volume, unit),
        )
        c.metric(
            "Best threshold",
            f"{summary.optimal_threshold:.3f}",
            help=f"Worth {money(summary.value_per_decision_at_optimum, unit)} per decision.",
        )
        gain = summary.value_per_decision_at_optimum - summary.value_per_decision_at_threshold
        st.write(
            f"Measured on {summary.n_labeled:,} decisions with known outcomes. Moving the "
            f"threshold from {case['threshold']:.3f} to {summary.optimal_threshold:.3f} would "
            f"add about {money(gain * volume, unit)} per period."
        )
        st.plotly_chart(
            charts.value_curve(curve, float(case["threshold"]), chosen, unit), key="kpi_curve"
        )

    others = [
        v["version"]
        for v in entry["versions"]
        if v["version"] != view["version"]
        and v["artifact_path"]
        and v["stage"] not in ("archived", "rejected")
    ]
    if others:
        st.subheader("Champion vs challenger, in money")
        challenger = st.selectbox(
            "Challenger", others, format_func=lambda v: f"v{v}", key="kpi_challenger"
        )
        try:
            table = compare_view(db, rev, model, challenger)
        except ModelBridgeError as exc:
            st.info(str(exc))
        else:
            st.dataframe(
                table,
                hide_index=True,
                key="kpi_compare",
                column_config={
                    c: st.column_config.NumberColumn(format="%,.2f")
                    for c in table.columns
                    if c.startswith("value")
                },
            )
            diff = (
                table.iloc[1]["value_per_period_at_threshold"]
                - table.iloc[0]["value_per_period_at_threshold"]
            )
            st.write(
                f"On the same {int(table.iloc[0]['decisions']):,} recent decisions, the "
                f"challenger v{challenger} would earn {money(abs(diff), unit)} "
                f"{'more' if diff >= 0 else 'less'} per period at the current threshold."
            )

st.subheader("Over time")
windows = view["windows"]
if windows.empty:
    st.info("No decisions logged yet.")
else:
    st.plotly_chart(charts.kpi_over_time(windows, unit), key="kpi_time")
    st.dataframe(pd.DataFrame(windows), hide_index=True, key="kpi_windows")
