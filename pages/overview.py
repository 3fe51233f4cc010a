"""Overview: is the model earning what it should, is it healthy, what needs attention."""

import streamlit as st

from app import charts
from app.data import overview_view, revision, store
from app.navigation import page
from app.session import guard
from app.widgets import model_picker, traffic_light
from core import auth
from core.words import money

identity = guard("overview")
st.title("Overview")
db, rev = str(store().path), revision()
model = model_picker(
    "overview",
    empty="No models are registered yet. An ML engineer registers one with `modelbridge register`.",
).model
view = overview_view(db, rev, model)
earn = view.earnings
st.caption(view.caption)

st.subheader("Is it earning what it should?")
if earn.value is None:
    (st.warning if earn.unreliable else st.info)(earn.sentence)
else:
    a, b, c = st.columns(3)
    a.metric(
        earn.label,
        money(earn.value, earn.unit),
        help="Value of a period's decisions: measured on outcomes where enough have arrived, "
        "estimated from the scores where they have not, unless the estimate has been missing.",
    )
    if earn.target is not None:
        b.metric(
            "Target",
            money(earn.target, earn.unit),
            delta=money(earn.value - earn.target, earn.unit),
        )
    if earn.baseline is not None:
        c.metric(
            "Without the model",
            money(earn.baseline, earn.unit),
            delta=money(earn.value - earn.baseline, earn.unit),
        )
    st.write(earn.sentence)
    if earn.unreliable:
        st.warning(earn.caveat)
    elif earn.caveat:
        st.caption(earn.caveat)
    st.plotly_chart(charts.earnings_trend(earn.trend, earn.unit, earn.target), key="overview_trend")

st.subheader("Is it healthy?")
for light in view.lights:
    traffic_light(light)

st.subheader("What needs attention?")
if view.attention:
    for item in view.attention:
        st.markdown(f"- {item}")
else:
    st.success("Nothing is waiting for you.")

details = [
    k for k in ("kpi", "drift", "data_quality", "traffic") if k in auth.pages_for(identity.role)
]
if details:
    st.caption("Details")
    for column, key in zip(st.columns(len(details)), details, strict=True):
        column.page_link(page(key))
