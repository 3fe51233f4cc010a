"""Navigation built from the signed-in user's role (core.auth decides which pages)."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from app.session import sign_out
from app.text import escape_markdown
from core import auth

PAGES_DIR = Path(__file__).resolve().parent.parent / "pages"

# key -> (file, title, icon); the order here is the order in the sidebar.
PAGES = {
    "overview": ("overview.py", "Overview", ":material/dashboard:"),
    "approvals": ("approvals.py", "Approvals", ":material/approval:"),
    "kpi": ("kpi.py", "Business value", ":material/payments:"),
    "traffic": ("traffic.py", "Traffic", ":material/monitoring:"),
    "drift": ("drift.py", "Drift", ":material/trending_down:"),
    "explain": ("explain.py", "Explanations", ":material/lightbulb:"),
    "data_quality": ("data_quality.py", "Data quality", ":material/fact_check:"),
    "models": ("models.py", "Models", ":material/inventory_2:"),
    "audit": ("audit.py", "Audit trail", ":material/history:"),
}


def page(key: str) -> st.Page:
    """The st.Page for a page key (the same object st.navigation gets, for st.page_link)."""
    file, title, icon = PAGES[key]
    return st.Page(str(PAGES_DIR / file), title=title, icon=icon, url_path=key)


def build_navigation(identity: auth.Identity) -> st.navigation:
    """st.navigation with exactly the pages the role may open."""
    allowed = auth.pages_for(identity.role)
    pages = [page(key) for key in PAGES if key in allowed]
    with st.sidebar:
        st.markdown(
            f"**{escape_markdown(identity.username)}** · "
            f"{auth.ROLE_LABELS.get(identity.role, identity.role)}"
        )
        if st.button("Sign out", key="sign_out"):
            sign_out()
    return st.navigation(pages)
