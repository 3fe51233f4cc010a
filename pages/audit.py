"""Audit trail: every stage change, sign-off, setting and user change, tamper-evident."""

import streamlit as st

from app.data import audit_view, models_table, revision, store
from app.session import guard
from app.tables import Column, table
from app.text import escape_markdown
from core.files.exports import csv_text

guard("audit")
st.title("Audit trail")
db, rev = store().target, revision()
a, b, c = st.columns(3)
model = a.selectbox(
    "Model",
    [None, *[m.name for m in models_table(db, rev)]],
    format_func=lambda m: "all" if m is None else m,
    key="audit_model",
)
actor = b.text_input("Who", key="audit_actor").strip() or None
action = c.text_input("Action", key="audit_action", placeholder="e.g. promote").strip() or None
view = audit_view(db, rev, model, actor, action)
if view.problems:
    st.error(
        "The audit trail was tampered with: " + "; ".join(escape_markdown(p) for p in view.problems)
    )
else:
    st.success("The hash chain is intact: no event was edited or removed.")
table(
    view.events,
    {
        "occurred_at": Column("When (UTC)", "time"),
        "actor": Column("Who"),
        "role": Column("Role", "term"),
        "action": Column("Action", "term"),
        "model": Column("Model"),
        "version": Column("Version", "version"),
        "before": Column("Before", "record"),
        "after": Column("After", "record"),
        "id": Column("Event", "count"),
    },
    key="audit_events",
)
st.download_button(
    "Export CSV",
    csv_text(view.events).encode(),
    file_name="audit.csv",
    mime="text/csv",
    key="audit_export",
)
