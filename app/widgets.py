"""Small shared widgets."""

from __future__ import annotations

import streamlit as st

from app.data import store
from core import auth, registry
from core.errors import ModelBridgeError
from core.quality import Headline


def headline_box(headline: Headline) -> None:
    """A plain-language status, coloured by severity."""
    show = {"ok": st.success, "warning": st.warning, "error": st.error}[headline.severity]
    show(headline.text)


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
                registry.update_settings(
                    store(), model=model, changes={"latency_slo_ms": value}, by=identity
                )
            except ModelBridgeError as exc:
                st.error(str(exc))
            else:
                st.success(f"Latency target set to {value:,.0f} ms.")
