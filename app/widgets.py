"""Small shared widgets."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from app.data import models_table, opening_version, revision, store
from app.text import escape_markdown
from app.views import AlertEntry
from core import auth
from core.errors import ModelBridgeError
from core.monitoring import alerts, policy
from core.monitoring.data_quality import Headline
from core.words import PERIODS, default_label, points, score

NO_MODELS = "No models are registered yet. Register one with `modelbridge register`."


@dataclass(frozen=True)
class Picked:
    """The model a page shows, the version picked (None: all, or none asked for) and the
    columns left beside the pickers for the page's own widgets."""

    model: str
    version: int | None
    beside: tuple[DeltaGenerator, ...] = ()


def model_picker(
    prefix: str,
    *,
    columns: list[int] | None = None,
    versions: Literal["opening", "all"] | None = None,
    explainable: bool = False,
    empty: str = NO_MODELS,
) -> Picked:
    """The Model select box of each one-model page, and a Version one when asked for.

    Their keys are PREFIX_model and PREFIX_version. VERSIONS "opening" opens the Version box on
    the version every page opens on (core.registry.opening_version), "all" on "All versions".
    COLUMNS lays the boxes out in a row of columns of these widths. EXPLAINABLE keeps models
    with a model file. Without any model, the page says EMPTY and stops.
    """
    db, rev = store().target, revision()
    models = models_table(db, rev)
    if explainable:
        models = [m for m in models if any(v.artifact_path for v in m.versions)]
    if not models:
        st.info(empty)
        st.stop()
    row = st.columns(columns) if columns else [st, st]
    model = row[0].selectbox("Model", [m.name for m in models], key=f"{prefix}_model")
    if versions is None:
        return Picked(model, None, tuple(row[1:]) if columns else ())
    entry = next(m for m in models if m.name == model)
    labels = {f"v{v.version} ({v.stage})": v.version for v in entry.versions}
    if versions == "all":
        labels = {"All versions": None} | labels
        default = 0
    else:
        default = list(labels.values()).index(opening_version(db, rev, model))
    label = row[1].selectbox("Version", list(labels), index=default, key=f"{prefix}_version")
    return Picked(model, labels[label], tuple(row[2:]) if columns else ())


def headline_box(headline: Headline) -> None:
    """A plain-language status, coloured by severity."""
    show = {"ok": st.success, "warning": st.warning, "error": st.error}[headline.severity]
    show(escape_markdown(headline.text))


def save_latency_slo(identity: auth.Identity, model: str, current: float) -> None:
    """Let roles that may edit model settings change the latency target."""
    if not auth.may(identity, "edit_model_settings"):
        st.caption(f"Latency target (p95): {current:,.0f} ms.")
        return
    with st.form("latency_slo"):
        value = st.number_input(
            "Latency target, p95 (ms)",
            min_value=1.0,
            value=float(current),
            step=10.0,
            key="slo_value",
        )
        if st.form_submit_button("Save target"):
            try:
                policy.update_settings(
                    store(), model=model, changes={"latency_slo_ms": value}, by=identity
                )
            except ModelBridgeError as exc:
                st.error(escape_markdown(exc))
            else:
                st.success(f"Latency target set to {value:,.0f} ms.")


def alert_list(identity: auth.Identity, model: str, open_alerts: list[AlertEntry]) -> None:
    """Open alerts in plain words with their statistic below (alerts show on technical pages
    only); roles that may acknowledge get a button per alert."""
    if not open_alerts:
        st.success("No open alerts.")
        return
    icons = {"high": ":material/error:", "medium": ":material/warning:", "low": ":material/info:"}
    with st.expander(f"{len(open_alerts)} open alert(s)", expanded=True):
        for alert in open_alerts:
            text, action = st.columns([6, 1])
            text.markdown(
                f"{icons.get(alert.severity, '')} **{alert.severity}** · "
                f"{escape_markdown(alert.words)}"
                + (
                    f" · seen by {escape_markdown(alert.acknowledged_by)}"
                    if alert.acknowledged_by
                    else ""
                )
            )
            text.caption(f"Technical: {escape_markdown(alert.reason)}")
            may_ack = alert.status == "open" and auth.may(identity, "acknowledge_alert")
            if may_ack and action.button("Seen", key=f"ack_{alert.id}", help="Acknowledge"):
                try:
                    alerts.acknowledge(store(), model=model, alert_id=alert.id, by=identity)
                except ModelBridgeError as exc:
                    st.error(escape_markdown(exc))
                else:
                    st.rerun()


def spike_warnings(batches: Any) -> None:
    """One warning per batch that caused a spike: its file (as sent, escaped) and why."""
    for spike in batches[batches["spike"]].itertuples():
        source, batch = escape_markdown(str(spike.source)), escape_markdown(str(spike.batch_id))
        st.warning(
            f"Spike: **{source}** (batch {batch}). {escape_markdown(str(spike.spike_reason))}."
        )


def case_summary(case: Any, words: Any, heading: str | None = None) -> None:
    """Decision, score against the threshold, reasons, what would change it, similar cases."""
    from app import charts

    if heading:
        st.markdown(f"**{heading}**")
    output = case.explanation.output
    if case.threshold is not None:
        positive, negative = case.decision
        verdict = positive if case.flagged else negative
        st.markdown(f"### Decision: {escape_markdown(verdict)}")
        st.plotly_chart(
            charts.score_against_threshold(output, case.threshold), key=f"gauge_{heading or 'case'}"
        )
        st.caption(
            f"Score {score(output, threshold=case.threshold)}; cases from "
            f"{points(case.threshold)} up are {escape_markdown(positive)}."
        )
    elif case.classes is not None:
        st.markdown(f"### Predicted class: {escape_markdown(case.classes.predicted)}")
        shares = " · ".join(f"{c} {p:.0%}" for c, p in case.classes.probabilities.items())
        st.caption(f"Probability of each class: {escape_markdown(shares)}")
    else:
        st.markdown(f"### Prediction: {output:,.4g}")
    ups = [r for r in case.reasons if r.contribution > 0]
    downs = [r for r in case.reasons if r.contribution < 0]
    left, right = st.columns(2)
    left.markdown(f"**Pushed {escape_markdown(words.outcome)} up**")
    for r in ups or []:
        left.markdown(f"- {escape_markdown(r.sentence)}")
    right.markdown(f"**Pulled {escape_markdown(words.outcome)} down**")
    for r in downs or []:
        right.markdown(f"- {escape_markdown(r.sentence)}")
    if case.counterfactual_text:
        st.info(f"What would change the decision: {escape_markdown(case.counterfactual_text)}")
    if case.similar.get("text"):
        st.caption(escape_markdown(case.similar["text"]))


def what_if_key(model: str, version: int, request_id: str, feature: str) -> str:
    """The widget key of one what-if input: one per case, so a case never inherits another's."""
    return "whatif_" + json.dumps([model, version, request_id, feature])


def what_if_inputs(case: Any, features: list, schema: dict, words: Any) -> dict:
    """One input per feature, prefilled with CASE's logged values; returns the edited values."""
    values = case.explanation.values
    out = {}
    columns = st.columns(3)
    profile = {f["name"]: f for f in schema.get("features", [])}
    for i, feature in enumerate(features):
        info = words.info(feature.name)
        label = escape_markdown(info.label + (f" ({info.unit})" if info.unit else ""))
        help_text = escape_markdown(info.description) or None
        slot = columns[i % 3]
        current = values.get(feature.name)
        key = what_if_key(case.model, case.version, case.request_id, feature.name)
        if feature.kind == "numeric":
            out[feature.name] = slot.number_input(
                label,
                value=None if current is None else float(current),
                help=help_text,
                key=key,
            )
            edited = out[feature.name]
            seen = (feature.min, feature.max)
            if edited is not None and None not in seen and not seen[0] <= edited <= seen[1]:
                slot.caption(
                    f":orange[Outside the {seen[0]:,.4g} to {seen[1]:,.4g} seen in training: "
                    "the model's answer here is a guess.]"
                )
        else:
            options = list(profile.get(feature.name, {}).get("categories", []))
            if current is not None and current not in options:
                options = [current, *options]
            options = [None, *options]
            out[feature.name] = slot.selectbox(
                label,
                options,
                index=options.index(current),
                format_func=lambda v: "(not provided)" if v is None else str(v),
                help=help_text,
                key=key,
            )
    return out


def metadata_editor(
    identity: auth.Identity, model: str, version: int, schema: dict, features: list
) -> None:
    """Let ML engineers edit the words used in explanations (labels, units, actionable)."""
    if not auth.may(identity, "edit_model_settings"):
        return
    import pandas as pd

    meta = schema.get("metadata", {})
    given = meta.get("features", {})
    table = pd.DataFrame(
        [
            {
                "feature": f.name,
                "label": given.get(f.name, {}).get("label", default_label(f.name)),
                "unit": given.get(f.name, {}).get("unit", ""),
                "description": given.get(f.name, {}).get("description", ""),
                "actionable": bool(given.get(f.name, {}).get("actionable", False)),
            }
            for f in features
        ]
    )
    with st.expander(f"Words used in explanations (v{version})"), st.form("feature_words"):
        outcome = st.text_input(
            "What the score means", meta.get("outcome", ""), placeholder="e.g. default risk"
        )
        population = st.text_input(
            "Who the past cases are", meta.get("population", ""), placeholder="e.g. applicants"
        )
        positive = st.text_input(
            "What a positive outcome is called",
            meta.get("positive_outcome", ""),
            placeholder="e.g. defaulted",
        )
        edited = st.data_editor(
            table, hide_index=True, disabled=["feature"], key="feature_words_table"
        )
        if st.form_submit_button("Save words"):
            new = {
                "outcome": outcome,
                "population": population,
                "positive_outcome": positive,
                "features": {
                    row["feature"]: {
                        k: row[k] for k in ("label", "unit", "description", "actionable")
                    }
                    for row in edited.to_dict(orient="records")
                },
            }
            try:
                policy.update_feature_metadata(
                    store(), model=model, version=version, meta=new, by=identity
                )
            except ModelBridgeError as exc:
                st.error(escape_markdown(exc))
            else:
                st.success("Saved.")


def traffic_light(light: Any) -> None:
    """One health signal: a coloured dot, its name and its reason."""
    dot = {
        "green": ":green[● fine]",
        "amber": ":orange[● watch]",
        "red": ":red[● act]",
        "unknown": ":gray[● unknown]",
    }[light.status]
    st.markdown(f"{dot} **{escape_markdown(light.name)}** — {escape_markdown(light.sentence)}")


def _value_matrix_editor(
    model: str, case: Any, classes: list[str], editable: bool
) -> dict[str, Any]:
    """A multiclass model's value matrix as an editable grid: the class that held per row, the
    class decided per column; its cells as business-case changes."""
    import pandas as pd

    from core.value import business_case

    st.caption(
        "What one decision is worth (gains positive, costs negative), by the class that held "
        "(rows) and the class the model decided (columns):"
    )
    grid = pd.DataFrame(
        [[case.values.get(business_case.cell_key(a, p)) or 0.0 for p in classes] for a in classes],
        index=pd.Index(classes, name="Class that held"),
        columns=[f"Decided {p}" for p in classes],
        dtype=float,
    )
    edited = st.data_editor(grid, disabled=not editable, key=f"value_matrix_{model}")
    return {
        business_case.cell_key(a, p): edited.iloc[i, j]
        for i, a in enumerate(classes)
        for j, p in enumerate(classes)
    }


def business_case_form(
    identity: auth.Identity, model: str, task: str, case: Any, classes: list[str] | None = None
) -> None:
    """The business case as a validated form; read-only for roles that may not edit it. A
    multiclass model's (with its CLASSES) edits its value matrix."""
    from core.value import business_case

    editable = auth.may(identity, "edit_business_case")
    with st.form("business_case"):
        decision = st.text_area(
            "The decision the model drives", case["decision"], disabled=not editable
        )
        a, b, c = st.columns(3)
        unit = a.text_input("Unit or currency", case["unit"], disabled=not editable)
        period = b.selectbox(
            "Period",
            list(PERIODS),
            index=list(PERIODS).index(case["period"]),
            format_func=PERIODS.get,
            disabled=not editable,
        )
        volume = c.number_input(
            "Decisions per period",
            min_value=0.0,
            value=case["volume_per_period"],
            disabled=not editable,
        )
        values: dict[str, Any] = {
            "decision": decision,
            "unit": unit,
            "period": period,
            "volume_per_period": volume,
        }
        if task == "binary":
            d, e = st.columns(2)
            values["positive_action"] = d.text_input(
                "Cases at or above the threshold are",
                case["positive_action"],
                disabled=not editable,
            )
            values["negative_action"] = e.text_input(
                "Other cases are", case["negative_action"], disabled=not editable
            )
            # In points out of 100, as every page shows scores; stored as a share of 1.
            chosen = st.number_input(
                "Threshold (score out of 100)",
                0.0,
                100.0,
                float(case["threshold"]) * 100,
                step=0.5,
                format="%.1f",
                disabled=not editable,
            )
            values["threshold"] = round(chosen / 100, 6)
            st.caption("What one decision is worth (gains positive, costs negative):")
            cols = st.columns(4)
            for col, key, label in zip(
                cols,
                ("value_tp", "value_fp", "value_tn", "value_fn"),
                (
                    "flagged, and it was a real case",
                    "flagged, but it was not",
                    "not flagged, rightly",
                    "not flagged, but it was a real case",
                ),
                strict=True,
            ):
                values[key] = col.number_input(label, value=float(case[key]), disabled=not editable)
        elif task == "multiclass":
            values.update(_value_matrix_editor(model, case, classes or [], editable))
        else:
            f, g = st.columns(2)
            values["cost_under"] = f.number_input(
                "Cost per unit predicted too low",
                min_value=0.0,
                value=float(case["cost_under"]),
                disabled=not editable,
            )
            values["cost_over"] = g.number_input(
                "Cost per unit predicted too high",
                min_value=0.0,
                value=float(case["cost_over"]),
                disabled=not editable,
            )
        h, i, j = st.columns(3)
        values["target"] = h.number_input(
            "Target value per period", value=case["target"], disabled=not editable
        )
        values["baseline"] = i.text_input(
            "Without the model, we would", case["baseline"], disabled=not editable
        )
        values["baseline_value"] = j.number_input(
            "…worth per decision", value=case["baseline_value"], disabled=not editable
        )
        if st.form_submit_button("Save business case", disabled=not editable):
            try:
                business_case.save(store(), model=model, changes=values, by=identity)
            except ModelBridgeError as exc:
                st.error(escape_markdown(exc))
            else:
                st.success("Saved as a new revision.")
    if not editable:
        st.caption("Product owners and ML engineers can change the business case.")
