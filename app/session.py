"""Sign-in and the signed-in identity kept in st.session_state."""

from __future__ import annotations

import streamlit as st

from app.data import store
from app.text import escape_markdown
from core import auth, users
from core.errors import PermissionDenied, StoreBusy

# Roles that open the technical pages (drift, data quality) and read their terms.
TECHNICAL_ROLES = ("ml_engineer", "admin")


def current_identity() -> auth.Identity | None:
    """The signed-in user of this browser session, if any."""
    return st.session_state.get("identity")


def sign_in_view() -> None:
    """The sign-in form: the only page reachable while signed out."""
    st.title("ModelBridge")
    st.caption("Sign in to see how your models are doing in production.")
    with st.form("sign_in"):
        username = st.text_input("Username", key="username")
        password = st.text_input("Password", type="password", key="password")
        submitted = st.form_submit_button("Sign in", type="primary")
    if not submitted:
        return
    try:
        identity = users.sign_in(store(), username=username, password=password, client=_client())
    except PermissionDenied as exc:
        st.error(escape_markdown(f"{str(exc)[:1].upper()}{str(exc)[1:]}."))
        return
    except StoreBusy as exc:
        st.error(escape_markdown(exc))
        return
    st.session_state["identity"] = identity
    st.rerun()


def _client() -> str:
    """The browser's address: the proxy's forwarded one when the request came through a proxy
    on this machine (the server listens on 127.0.0.1 only), else the peer's own."""
    peer = st.context.ip_address
    peer = peer if isinstance(peer, str) and peer else "unknown"
    forwarded = st.context.headers.get("X-Forwarded-For")
    if isinstance(forwarded, str) and forwarded and peer in ("127.0.0.1", "::1"):
        return "web:" + forwarded.split(",")[-1].strip()
    return "web:" + peer


def sign_out() -> None:
    """Forget the identity and go back to the sign-in form."""
    st.session_state.pop("identity", None)
    st.rerun()


def guard(page: str) -> auth.Identity:
    """Stop the page unless the signed-in user's role may open it."""
    try:
        return auth.require_page(current_identity(), page)
    except PermissionDenied as exc:
        st.error(f"Not allowed: {escape_markdown(exc)}.")
        st.stop()
        raise


def technical(identity: auth.Identity) -> bool:
    """Whether the role reads the technical views (ML terms, statistics, hashes)."""
    return identity.role in TECHNICAL_ROLES
