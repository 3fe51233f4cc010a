"""Models: every registered model and version with stage, metrics and lineage."""

import pandas as pd
import streamlit as st

from app.data import models_table, revision, store
from app.session import guard
from app.text import escape_markdown
from core.metrics import KEY_METRICS

guard("models")
st.title("Models")
models = models_table(store().target, revision())
if not models:
    st.info("No models are registered yet. Register one with `modelbridge register`.")
    st.stop()

for model in models:
    st.subheader(escape_markdown(model.name))
    st.caption(
        f"{model.task} model"
        + (
            f", positive label {escape_markdown(model.positive_label)}"
            if model.positive_label
            else ""
        )
        + (f" · owner {escape_markdown(model.owner)}" if model.owner else "")
    )
    if model.description:
        st.text(model.description)
    keys = KEY_METRICS[model.task]
    rows = [
        {
            "version": v.version,
            "stage": v.stage,
            **{k: v.metrics.get(k) for k in keys},
            "registered by": v.created_by,
            "registered at": v.created_at,
            "git sha": (v.git_sha or "")[:12],
            "data sha256": v.data_sha256[:12],
            "data rows": v.data_rows,
            "model file sha256": (v.artifact_sha256 or "none")[:12],
        }
        for v in model.versions
    ]
    st.dataframe(pd.DataFrame(rows), hide_index=True, key=f"versions_{model.id}")
    for v in model.versions:
        with st.expander(f"v{v.version} lineage and feature schema"):
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
                features["categories"] = features["categories"].map(len)
                st.dataframe(
                    features[["name", "kind", "missing_rate", "min", "max", "categories"]],
                    hide_index=True,
                )
