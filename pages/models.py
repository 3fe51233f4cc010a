"""Models: every registered model and version with its stage and how good it is; the metrics
and lineage in the technical view."""

import pandas as pd
import streamlit as st

from app.data import models_table, revision, store
from app.session import guard, technical
from app.tables import Column, table
from app.text import escape_markdown
from core.metrics import KEY_METRICS, METRIC_WORDS
from core.words import METRIC_MEANINGS, quality

TASK_WORDS = {"binary": "Decides yes or no", "regression": "Predicts a number"}
VERSIONS = {
    "version": Column("Version", "version"),
    "stage": Column("Stage", "stage"),
    "quality": Column("How good, on its validation data"),
    "created_by": Column("Registered by"),
    "created_at": Column("Registered", "date"),
    "data_rows": Column("Trained on (rows)", "count"),
}
INPUTS = {
    "name": Column("Input"),
    "kind": Column("Kind"),
    "missing_rate": Column("Missing in training", "percent"),
    "min": Column("Lowest", "number"),
    "max": Column("Highest", "number"),
    "categories": Column("Categories", "count"),
}

identity = guard("models")
st.title("Models")
models = models_table(store().target, revision())
if not models:
    st.info("No models are registered yet. Register one with `modelbridge register`.")
    st.stop()

for model in models:
    st.subheader(escape_markdown(model.name))
    st.caption(
        TASK_WORDS.get(model.task, model.task)
        + (
            f" (positive outcome: {escape_markdown(model.positive_label)})"
            if model.positive_label
            else ""
        )
        + (f" · owner {escape_markdown(model.owner)}" if model.owner else "")
    )
    if model.description:
        st.text(model.description)
    versions = pd.DataFrame(
        {
            "version": v.version,
            "stage": v.stage,
            "quality": quality(model.task, v.metrics),
            "created_by": v.created_by,
            "created_at": v.created_at,
            "data_rows": v.data_rows,
        }
        for v in model.versions
    )
    table(versions, VERSIONS, key=f"versions_{model.id}")
    if technical(identity):
        keys = KEY_METRICS[model.task]
        metrics = pd.DataFrame(
            {
                "metric": [METRIC_WORDS.get(k, k) for k in keys],
                "meaning": [METRIC_MEANINGS.get(k, "") for k in keys],
                **{f"v{v.version}": [v.metrics.get(k) for k in keys] for v in model.versions},
            }
        )
        with st.expander("Technical view: metrics on the validation data"):
            table(
                metrics,
                {
                    "metric": Column("Metric"),
                    "meaning": Column("What it measures"),
                    **{f"v{v.version}": Column(f"v{v.version}", "number") for v in model.versions},
                },
                key=f"metrics_{model.id}",
            )
    for v in model.versions:
        with st.expander(f"v{v.version} inputs" + (" and lineage" if technical(identity) else "")):
            if technical(identity):
                st.markdown(
                    f"- training data fingerprint: `{v.data_sha256}` ({v.data_rows:,} rows)\n"
                    f"- git commit: {escape_markdown(v.git_sha or 'not given')}\n"
                    f"- model file: `{v.artifact_sha256 or 'not registered'}` "
                    f"({v.artifact_format or '–'})\n"
                    f"- registered by {escape_markdown(v.created_by or 'unknown')} "
                    f"at {v.created_at:%Y-%m-%d %H:%M} UTC"
                )
            features = pd.DataFrame(v.feature_schema.get("features", []))
            if not features.empty:
                features["categories"] = features["categories"].map(lambda c: len(c) or None)
                table(features, INPUTS, key=f"inputs_{model.id}_{v.version}")
