"""Explanations: why the model decided what it did, in words a frontline user can check."""

from datetime import timedelta

import pandas as pd
import streamlit as st

from app import charts, tables
from app.data import opening_version, revision, store, traffic_span
from app.explain_data import case_view, cases_table, importance_view, vocabulary_view, what_if_view
from app.session import guard
from app.text import escape_markdown
from app.widgets import case_summary, metadata_editor, model_picker, what_if_inputs
from core.errors import ModelBridgeError
from core.explain.class_probabilities import probability_moves
from core.words import number

CASES = {
    "request_id": tables.Column("Request id"),
    "ts": tables.Column("When (UTC)", "time"),
    "version": tables.Column("Version", "version"),
    "score": tables.Column("Score", "score"),
    "decision": tables.Column("Decision"),
}
CLASSES = {
    "request_id": tables.Column("Request id"),
    "ts": tables.Column("When (UTC)", "time"),
    "version": tables.Column("Version", "version"),
    "predicted_class": tables.Column("Predicted class"),
    "score": tables.Column("Its probability", "percent"),
}
PREDICTIONS = {
    "request_id": tables.Column("Request id"),
    "ts": tables.Column("When (UTC)", "time"),
    "version": tables.Column("Version", "version"),
    "score": tables.Column("Prediction", "number"),
}

identity = guard("explain")
st.title("Explanations")
db, rev = store().target, revision()
model = model_picker(
    "explain",
    explainable=True,
    empty="No model has a registered model file, so decisions cannot be explained yet. "
    "Register one with `modelbridge register ... --model-file model.skops`.",
).model
opened = opening_version(db, rev, model)
span = traffic_span(db, rev, model)
first, last = span.first, span.last

decide, overall = st.tabs(["A decision", "How the model decides"])
# The overall tab is filled first: the decision tab stops the script when no case is chosen.
with overall:
    importance = importance_view(db, rev, model, opened)
    vocabulary = vocabulary_view(db, rev, model, opened)
    labels = {f.name: vocabulary.words.info(f.name).label for f in vocabulary.features}
    st.plotly_chart(charts.importance_bars(importance.overall, labels), key="explain_importance")
    if len(importance.over_time):
        ranked = charts.by_latest_rank(importance.over_time)
        shown = ranked
        if len(ranked) > charts.MAX_SERIES:
            shown = st.multiselect(
                f"Inputs drawn (the {charts.MAX_SERIES} strongest lately; add or remove any)",
                ranked,
                default=ranked[: charts.MAX_SERIES],
                format_func=lambda n: labels.get(n, n),
                key="explain_rank_inputs",
            )
        st.plotly_chart(
            charts.rank_over_time(importance.over_time, labels, shown), key="explain_ranks"
        )
    metadata_editor(identity, model, opened, vocabulary.schema, vocabulary.features)

with decide:
    typed = st.text_input(
        "Request id",
        key="explain_request_id",
        placeholder="Paste a request id, or pick a case below",
    ).strip()
    if span.predictions:
        with st.expander("Browse recent decisions", expanded=not typed):
            a, b, c = st.columns([2, 2, 3])
            outcome = a.selectbox(
                "Decision", ["all", "flagged", "not flagged"], key="explain_outcome"
            )
            days = b.date_input(
                "Days",
                value=(max(first, last - timedelta(days=6)), last),
                min_value=first,
                max_value=last,
                key=f"explain_days_{model}_{last}",
            )
            lo, hi = c.slider("Score band", 0.0, 1.0, (0.0, 1.0), step=0.05, key="explain_band")
            start, end = (days[0], days[-1]) if isinstance(days, tuple) and days else (first, last)
            flagged = {"all": None, "flagged": True, "not flagged": False}[outcome]
            table = cases_table(db, rev, model, start, end, lo, hi, flagged)
            picked = tables.table(
                table,
                CLASSES
                if "predicted_class" in table
                else CASES
                if "decision" in table
                else PREDICTIONS,
                on_select="rerun",
                selection_mode="single-row",
                key="explain_cases",
            )
            rows = (picked or {}).get("selection", {}).get("rows", [])
    else:
        rows, table = [], pd.DataFrame()
    request_id = typed or (table.iloc[rows[0]]["request_id"] if rows else None)
    if not request_id:
        st.caption("Choose a decision to see why the model made it.")
        st.stop()
    try:
        case = case_view(db, rev, model, request_id, "probability")
    except ModelBridgeError as exc:
        st.error(escape_markdown(exc))
        st.stop()
    explained = None  # a multiclass model's class whose probability the reasons explain
    if case.classes is not None:
        classes = list(case.classes.probabilities)
        explained = st.selectbox(
            "Reasons for the class",
            classes,
            index=classes.index(case.classes.predicted),
            key=f"explain_class_{model}_{request_id}",
        )
        case = case_view(db, rev, model, request_id, "probability", explained)
    vocabulary = vocabulary_view(db, rev, model, case.version)
    words = vocabulary.words
    case_summary(case, words)
    labels = {n: words.info(n).label for n in case.explanation.contributions}
    st.plotly_chart(
        charts.contribution_waterfall(
            case.explanation.base_value,
            case.explanation.contributions,
            labels,
            case.explanation.output,
            as_points=case.threshold is not None or case.classes is not None,
        ),
        key="explain_waterfall",
    )

    st.subheader("What if?")
    st.caption("Change the inputs to see the new score and reasons at once.")
    values = what_if_inputs(case, vocabulary.features, vocabulary.schema, words)
    if values != case.explanation.values:
        changed = what_if_view(
            db, rev, model, case.version, tuple(sorted(values.items())), explained
        )
        case_summary(changed, words, heading="With your changes")
        if case.classes is not None and changed.classes is not None:
            moves = probability_moves(case.classes, changed.classes)
            tables.table(
                moves[["class", "before", "after", "change"]],
                {
                    "class": tables.Column("Class"),
                    "before": tables.Column("Was", "percent"),
                    "after": tables.Column("Now", "percent"),
                    "change": tables.Column("Change (points)", "points"),
                },
                key="explain_class_moves",
            )

    with st.expander("Technical view"):
        tech = (
            case_view(db, rev, model, request_id, "log_odds", explained)
            if case.threshold is not None or case.classes is not None
            else case
        )
        st.markdown(
            f"Model file loaded with **{escape_markdown(case.loaded_with)}**; "
            f"explainer: `{case.explanation.method}`."
        )
        if case.explanation.note:  # the fixed sampling plan and its largest standard error
            st.caption(escape_markdown(case.explanation.note))
        names = list(case.explanation.contributions)
        shap_table = pd.DataFrame(
            {
                "feature": names,
                "value": [case.explanation.values[n] for n in names],
                "SHAP (probability)": list(case.explanation.contributions.values()),
                "SHAP (log-odds)": [tech.explanation.contributions[n] for n in names],
            }
        )
        if case.explanation.errors:
            shap_table["standard error"] = [case.explanation.errors[n] for n in names]
        if case.explanation.odds_ratios:
            shap_table["odds ratio"] = [case.explanation.odds_ratios[n] for n in names]
        tables.table(
            shap_table,
            {
                name: tables.Column(name, {"feature": "text", "value": "value"}.get(name, "number"))
                for name in shap_table.columns
            },
            key="explain_shap",
        )
        st.caption(
            f"Base value {case.explanation.base_value:.4f} + contributions = output "
            f"{case.explanation.output:.4f}; logged score "
            f"{number(case.logged_score)}."
        )
