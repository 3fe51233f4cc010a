"""Overview: is the model earning what it should, is it healthy, what needs attention."""

import streamlit as st

from app import charts
from app.data import overview_view, revision, store
from app.navigation import page
from app.session import guard
from app.text import escape_markdown
from app.widgets import model_picker, traffic_light
from core import auth
from core.words import money

identity = guard("overview")
st.title("Overview")
db, rev = store().target, revision()
model = model_picker(
    "overview",
    empty="No models are registered yet. An ML engineer registers one with `modelbridge register`.",
).model
view = overview_view(db, rev, model)
earn = view.earnings
st.caption(escape_markdown(view.caption))

st.subheader("Is it earning what it should?")
if earn.value is None:
    (st.warning if earn.unreliable else st.info)(escape_markdown(earn.sentence))
else:
    a, b, c = st.columns(3)
    a.metric(
        escape_markdown(earn.label),
        escape_markdown(money(earn.value, earn.unit)),
        help="Value of a period's decisions: measured on outcomes where enough have arrived, "
        "estimated from the scores where they have not, unless the estimate has been missing.",
    )
    if earn.target is not None:
        b.metric(
            "Target",
            escape_markdown(money(earn.target, earn.unit)),
            delta=escape_markdown(money(earn.value - earn.target, earn.unit)),
        )
    if earn.baseline is not None:
        c.metric(
            "Without the model",
            escape_markdown(money(earn.baseline, earn.unit)),
            delta=escape_markdown(money(earn.value - earn.baseline, earn.unit)),
        )
    st.write(escape_markdown(earn.sentence))
    if earn.unreliable:
        st.warning(escape_markdown(earn.caveat))
    elif earn.caveat:
        st.caption(escape_markdown(earn.caveat))
    st.plotly_chart(charts.earnings_trend(earn.trend, earn.unit, earn.target), key="overview_trend")

st.subheader("Is it healthy?")
for light in view.lights:
    traffic_light(light)

st.subheader("What needs attention?")
if view.attention:
    for item in view.attention:
        st.markdown(f"- {escape_markdown(item)}")
else:
    st.success("Nothing is waiting for you.")

details = [
    k for k in ("kpi", "drift", "data_quality", "traffic") if k in auth.pages_for(identity.role)
]
if details:
    st.caption("Details")
    for column, key in zip(st.columns(len(details)), details, strict=True):
        column.page_link(page(key))
