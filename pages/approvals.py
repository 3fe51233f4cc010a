"""Approvals: versions waiting for sign-off, judged on frozen evidence, then promoted."""

import streamlit as st

from app.data import approvals_view, live_versions, revision, store
from app.evidence import evidence_card
from app.session import guard
from app.text import escape_markdown
from core import workflow
from core.errors import ModelBridgeError

identity = guard("approvals")
st.title("Approvals")
db, rev = store().target, revision()
waiting = approvals_view(db, rev)


def _act(done: str, run, **kwargs) -> None:
    try:
        run(store(), by=identity, **kwargs)
    except ModelBridgeError as exc:
        st.error(escape_markdown(exc))
    else:
        st.success(done)
        st.rerun()


if not waiting:
    st.success("Nothing is waiting for a decision.")
for item in waiting:
    name, version = item.model, item.version
    key = f"{name}_{version}"
    with st.container(border=True):
        st.subheader(f"{escape_markdown(name)} v{version} · {item.stage.replace('_', ' ')}")
        st.caption(
            f"Registered by {escape_markdown(item.created_by)}. {escape_markdown(item.description)}"
        )
        if item.evidence:
            evidence_card(
                item.evidence,
                version=version,
                unit=item.unit,
                task=item.task,
                sha256=item.evidence_sha256,
                key=key,
            )
        if item.stage == "in_review":
            needed = ", ".join(f"{n} {r.replace('_', ' ')}" for r, n in item.required.items())
            with st.form(f"sign_{key}"):
                st.markdown(f"**Your decision** (needs: {needed})")
                decision = st.radio(
                    "Decision",
                    ["approve", "request_changes", "reject"],
                    format_func=lambda d: d.replace("_", " "),
                    horizontal=True,
                    index=None,  # a decision is made, never pre-selected
                    key=f"decision_{key}",
                )
                comment = st.text_area("Comment (required)", key=f"comment_{key}")
                submitted = st.form_submit_button("Record decision")
                if submitted and decision is None:
                    st.error("Choose a decision: approve, request changes or reject.")
                elif submitted:
                    _act(
                        f"Recorded: {decision.replace('_', ' ')}.",
                        workflow.sign,
                        model=name,
                        version=version,
                        decision=decision,
                        comment=comment,
                    )
        if item.stage == "approved":
            sure = st.checkbox(
                f"I confirm v{version} replaces v{item.live} in production"
                if item.live
                else f"I confirm v{version} goes live",
                key=f"confirm_{key}",
            )
            if st.button(
                "Promote to production", key=f"promote_{key}", disabled=not sure, type="primary"
            ):
                _act(f"v{version} is live.", workflow.promote, model=name, version=version)
        if item.history:
            with st.expander("History"):
                for review in item.history:
                    st.markdown(
                        f"Review {review['review']} asked by "
                        f"{escape_markdown(review['requested_by'])} "
                        f"({review['status'].replace('_', ' ')})"
                    )
                    for s in review["sign_offs"]:
                        st.markdown(
                            f"- {escape_markdown(s['user'])} ({s['role']}): {s['decision']} — "
                            f"{escape_markdown(s['comment'])}"
                        )

st.subheader("Live versions")
for live in live_versions(db, rev):
    with st.container(border=True):
        st.markdown(
            f"**{escape_markdown(live.model)} v{live.version}**, "
            f"approved by {escape_markdown(live.approved_by or '—')}"
        )
        if live.evidence:
            st.caption(f"The evidence v{live.version} was approved on:")
            evidence_card(
                live.evidence,
                version=live.version,
                unit=live.unit,
                task=live.task,
                sha256=live.evidence_sha256,
                key=f"live_{live.model}",
            )
        if live.rollback_to is None:
            st.caption(escape_markdown(f"No rollback: {live.no_rollback_because}."))
            continue
        sure = st.checkbox(
            f"I confirm rolling back to v{live.rollback_to}",
            key=f"confirm_rollback_{live.model}",
        )
        if st.button("Roll back", key=f"rollback_{live.model}", disabled=not sure):
            _act("Rolled back.", workflow.rollback, model=live.model)
