"""ModelBridge dashboard entrypoint: sign-in, then the pages the user's role may open."""

from __future__ import annotations

import os

import streamlit as st

from app.data import store
from app.navigation import build_navigation
from app.session import current_identity, sign_in_view
from app.warm_up import start_warm_up

st.set_page_config(page_title="ModelBridge", page_icon=":material/hub:", layout="wide")

if not store().exists():
    st.title("ModelBridge")
    st.error(
        f"No ModelBridge store at `{store().location}`. Build the demo with `modelbridge demo` "
        "(or `make run`), or point MODELBRIDGE_DB at your store."
    )
    st.stop()

identity = current_identity()
if identity is None:
    navigation = st.navigation([st.Page(sign_in_view, title="Sign in", url_path="sign-in")])
else:
    navigation = build_navigation(identity)
navigation.run()

# Started once the page is drawn, so that the sign-in form does not wait for it: while the
# first visitor signs in, the server loads what the pages need.
if os.environ.get("MODELBRIDGE_WARM_UP", "on") != "off":
    start_warm_up(store().target)
