"""Business value: what the model's decisions are worth, and what a better threshold would add."""

import streamlit as st

from app import charts
from app.data import class_value_view, compare_view, kpi_view, models_table, revision, store
from app.session import guard
from app.tables import Column, table
from app.text import escape_markdown
from app.widgets import business_case_form, model_picker
from core.errors import ModelBridgeError
from core.monitoring.windows import WindowSpec
from core.value.class_value import MIN_OUTCOMES as CLASS_MIN_OUTCOMES
from core.value.track_record import UNRELIABLE
from core.words import PERIODS, money, period_words, points

identity = guard("kpi")
st.title("Business value")
db, rev = store().target, revision()
model = model_picker("kpi", empty="No models are registered yet.").model
if next(m.task for m in models_table(db, rev) if m.name == model) == "multiclass":
    classes = class_value_view(db, rev, model)
    unit = classes.case["unit"]
    st.info(escape_markdown(classes.said))
    with st.expander(
        "Business case" + (f" (revision {classes.case.revision})" if classes.case.revision else ""),
        expanded=not classes.case.revision,
    ):
        business_case_form(identity, model, "multiclass", classes.case, classes.classes)
    st.subheader("What each decision is worth")
    st.caption("By the class that held (rows) and the class the model decided (columns).")
    table(classes.matrix, key="kpi_value_matrix")
    st.subheader("Over time")
    if classes.windows.empty:
        st.info("No decisions logged yet.")
        st.stop()
    st.plotly_chart(charts.kpi_over_time(classes.windows, unit), key="kpi_time")
    period = classes.case["period"]
    table(
        classes.windows.assign(
            period=[
                period_words(start, end, period)
                for start, end in zip(
                    classes.windows["window_start"], classes.windows["window_end"], strict=True
                )
            ],
            basis=classes.windows["measured"].map({True: "measured", False: "estimated"}),
        ),
        {
            "period": Column(PERIODS[period].capitalize()),
            "n": Column("Decisions", "count"),
            "n_labeled": Column("With outcomes", "count"),
            "realized_value_per_decision": Column("Measured per decision", "money", unit),
            "estimated_value_per_decision": Column("Estimated per decision", "money", unit),
            "value_in_window": Column("Value of its decisions", "money", unit),
            "basis": Column("From"),
        },
        key="kpi_windows",
    )
    st.caption(
        f"A period's value is measured once {CLASS_MIN_OUTCOMES} outcomes are in, and "
        "estimated from the class probabilities before that."
    )
    st.stop()
view = kpi_view(db, rev, model)
case, summary = view.case, view.summary
unit = case["unit"]
st.caption(escape_markdown(view.caption))

with st.expander(
    "Business case" + (f" (revision {case.revision})" if case.revision else ""),
    expanded=not case.revision,
):
    business_case_form(identity, model, view.task, case)

if view.task == "binary":
    st.subheader("Where to set the threshold")
    curve = view.curve
    if summary.n_labeled == 0:
        st.info("No outcomes have arrived yet, so the value of each threshold cannot be measured.")
    else:
        # Scores and thresholds read in points out of 100 on every page (core.words.score).
        chosen = (
            st.slider(
                "Threshold",
                0.0,
                100.0,
                float(case["threshold"]) * 100,
                step=0.5,
                format="%.1f",
                key="kpi_threshold",
                help="Cases scoring at or above it (out of 100) are "
                f"{escape_markdown(case['positive_action'])}.",
            )
            / 100
        )
        at = curve.iloc[int(round(chosen * (len(curve) - 1)))]["value_per_decision"]
        now = curve.iloc[int(round(float(case["threshold"]) * (len(curve) - 1)))]
        change = at - now["value_per_decision"]
        a, b, c = st.columns(3)
        a.metric(
            "Value per decision at this threshold",
            escape_markdown(money(at, unit)),
            delta=escape_markdown(money(change, unit)),
        )
        b.metric(
            f"Per {escape_markdown(view.overall.basis.per)}",
            escape_markdown(money(view.overall.at(at).value_per_period, unit)),
            delta=escape_markdown(money(view.overall.at(change).value_per_period, unit)),
        )
        c.metric(
            "Best threshold",
            points(summary.optimal_threshold),
            help=escape_markdown(
                f"Worth {money(summary.value_per_decision_at_optimum, unit)} per decision."
            ),
        )
        gain = summary.value_per_decision_at_optimum - summary.value_per_decision_at_threshold
        best = summary.optimal_threshold
        st.write(
            escape_markdown(
                f"Moving the threshold from {points(case['threshold'])} to {points(best)} would "
                f"add about {money(view.overall.at(gain).value_per_period, unit)} per "
                f"{view.overall.basis.per}. {view.overall.basis.words()}"
            )
        )
        if best <= 0.005 or best >= 0.995:
            st.warning(
                f"A threshold of {points(best)} means "
                f"{'every case is' if best <= 0.005 else 'no case is'} "
                f"{escape_markdown(case['positive_action'])}: "
                "on these outcomes the model's scores add no value over a blanket rule. Check "
                "the business case's values, or whether the model still tells cases apart."
            )
        st.plotly_chart(
            charts.value_curve(curve, float(case["threshold"]), chosen, unit), key="kpi_curve"
        )

    if view.challengers:
        st.subheader("Champion vs challenger, in money")
        challenger = st.selectbox(
            "Challenger", view.challengers, format_func=lambda v: f"v{v}", key="kpi_challenger"
        )
        try:
            compared = compare_view(db, rev, model, view.version, challenger)
        except ModelBridgeError as exc:
            st.info(escape_markdown(exc))
        else:
            table(compared.table(), key="kpi_compare")
            st.write(escape_markdown(compared.sentence()))
            st.caption(escape_markdown(compared.champion.basis.words()))

st.subheader("On the reference and in production")
reference, windows, top = view.reference_figure, view.windows, view.headline
columns = st.columns(3 if view.task == "binary" else 2)
columns[0].metric(
    "On the reference (training/validation data)",
    escape_markdown(money(reference.value_per_decision, unit)),
    help="Value per decision on the rows this version was validated on, before release.",
)
columns[1].metric(
    "Measured in production",
    escape_markdown(money(view.overall.value_per_decision, unit)),
    help="Value per decision on every logged decision whose outcome is in.",
)
if view.task == "binary":
    columns[2].metric(
        "Estimated in production, latest period"
        + (" (unreliable)" if top.track.status == UNRELIABLE else ""),
        escape_markdown(
            money(None if top.estimate is None else top.estimate.value_per_decision, unit)
        ),
        help="Value per decision from the scores alone, before outcomes arrive.",
    )
if reference.value_per_decision is None:
    st.info(f"On the reference: {escape_markdown(view.reference.reason)}.")
for name, shown in (
    ("On the reference", reference),
    ("Measured in production", view.overall),
    (
        "Estimated, latest period" + (" (unreliable)" if top.track.status == UNRELIABLE else ""),
        top.estimate,
    ),
):
    if shown is not None and shown.value_per_decision is not None:
        st.caption(
            f"{name}: {escape_markdown(shown.per_period_words())}. "
            f"{escape_markdown(shown.basis.words())}"
        )

st.subheader("Latest period")
if top.figure is None:
    (st.warning if top.track.status == UNRELIABLE else st.info)(escape_markdown(top.sentence))
else:
    st.metric(
        escape_markdown(top.label),
        escape_markdown(money(top.figure.value_per_period, unit)),
        help=escape_markdown(top.figure.basis.words()),
    )
    st.caption(
        f"{escape_markdown(top.figure.per_period_words())}. "
        f"{escape_markdown(top.figure.basis.words())}"
    )
if view.task == "binary":
    st.markdown("**Can the estimate be trusted?**")
    if top.track.status == UNRELIABLE:
        st.warning(escape_markdown(top.track.sentence()))
    else:
        st.caption(escape_markdown(top.track.sentence()))
    if top.track.checks:
        table(top.track.table(), key="kpi_track_record")

st.subheader("Over time")
if windows.empty:
    st.info("No decisions logged yet.")
else:
    st.plotly_chart(charts.kpi_over_time(windows, unit), key="kpi_time")
    per = WindowSpec.parse(case["period"]).label()
    table(
        windows.assign(
            period=[
                period_words(start, end, case["period"])
                for start, end in zip(windows["window_start"], windows["window_end"], strict=True)
            ]
        ),
        {
            "period": Column(PERIODS[case["period"]].capitalize()),
            "n": Column("Decisions", "count"),
            "n_labeled": Column("With outcomes", "count"),
            "realized_value_per_decision": Column("Measured per decision", "money", unit),
            "estimated_value_per_decision": Column("Estimated per decision", "money", unit),
            "value_per_period": Column(f"Value {per}", "money", unit),
        },
        key="kpi_windows",
    )
