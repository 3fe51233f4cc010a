"""Sign-in and the signed-in identity kept in st.session_state."""

from __future__ import annotations

import time

import streamlit as st

from app.data import store
from core import auth
from core.errors import PermissionDenied

_FAILURES = "sign_in_failures"


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
    failures = st.session_state.get(_FAILURES, 0)
    if failures >= 5:
        time.sleep(min(2 ** (failures - 5), 8))  # slow down password guessing
    identity = auth.authenticate(store(), username=username, password=password)
    if identity is None:
        st.session_state[_FAILURES] = failures + 1
        st.error("Unknown username or wrong password.")
        return
    st.session_state[_FAILURES] = 0
    st.session_state["identity"] = identity
    st.rerun()


def sign_out() -> None:
    """Forget the identity and go back to the sign-in form."""
    st.session_state.pop("identity", None)
    st.rerun()


def guard(page: str) -> auth.Identity:
    """Stop the page unless the signed-in user's role may open it."""
    try:
        return auth.require_page(current_identity(), page)
    except PermissionDenied as exc:
        st.error(f"Not allowed: {exc}.")
        st.stop()
        raise
