"""Small shared widgets."""

from __future__ import annotations

import streamlit as st

from app.data import store
from core import alerts, auth, model_settings
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
                model_settings.update_settings(
                    store(), model=model, changes={"latency_slo_ms": value}, by=identity
                )
            except ModelBridgeError as exc:
                st.error(str(exc))
            else:
                st.success(f"Latency target set to {value:,.0f} ms.")


def alert_list(identity: auth.Identity, model: str, open_alerts: list[dict]) -> None:
    """Open alerts with their reason; roles that may acknowledge get a button per alert."""
    if not open_alerts:
        st.success("No open alerts.")
        return
    icons = {"high": ":material/error:", "medium": ":material/warning:", "low": ":material/info:"}
    with st.expander(f"{len(open_alerts)} open alert(s)", expanded=True):
        for alert in open_alerts:
            text, action = st.columns([6, 1])
            text.markdown(
                f"{icons.get(alert['severity'], '')} **{alert['severity']}** · "
                f"{_escape(alert['reason'])}"
                + (
                    f" · seen by {_escape(alert['acknowledged_by'])}"
                    if alert["acknowledged_by"]
                    else ""
                )
            )
            may_ack = alert["status"] == "open" and auth.may(identity, "acknowledge_alert")
            if may_ack and action.button("Seen", key=f"ack_{alert['id']}", help="Acknowledge"):
                try:
                    alerts.acknowledge(store(), model=model, alert_id=alert["id"], by=identity)
                except ModelBridgeError as exc:
                    st.error(str(exc))
                else:
                    st.rerun()


def _escape(text: str) -> str:
    """Neutralise Markdown in user- or data-supplied text."""
    for ch in "\\`*_{}[]()#+-.!|<>":
        text = text.replace(ch, "\\" + ch)
    return text
