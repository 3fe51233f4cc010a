"""Approvals: versions waiting for sign-off, judged on frozen evidence, then promoted."""

import pandas as pd
import streamlit as st

from app.data import approvals_view, live_versions, revision, store
from app.session import guard
from app.text import escape_markdown
from app.widgets import gate_table
from core import gate_settings, workflow
from core.errors import ModelBridgeError
from core.words import money, score

CHANGE_COLUMNS = ["at", "by", "key", "before", "after"]
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
        evidence = item.evidence
        if evidence:
            kpi = next((g for g in evidence["gates"] if g["name"] == "kpi"), None)
            numbers = (kpi or {}).get("numbers", {})
            if "live" in numbers:
                unit, per = numbers.get("unit", item.unit), numbers.get("per", "per period")
                a, b = st.columns(2)
                per = escape_markdown(per)
                a.metric(
                    f"Live v{evidence['live_version']} {per}",
                    escape_markdown(money(numbers["live"], unit)),
                )
                b.metric(
                    f"Candidate v{version} {per}",
                    escape_markdown(money(numbers["candidate"], unit)),
                    delta=escape_markdown(money(numbers["candidate"] - numbers["live"], unit)),
                )
            if kpi:
                st.write(escape_markdown(kpi["summary"]))
            if "table" in numbers and "basis" in numbers:
                st.dataframe(pd.DataFrame(numbers["table"]), hide_index=True, key=f"kpi_{key}")
            gate_table(evidence["gates"])
            metrics = pd.DataFrame(
                {
                    "candidate": evidence["metrics"]["candidate"],
                    "live": evidence["metrics"]["live"] or {},
                }
            )
            with st.expander("Metrics, drift, lineage and sample explanations"):
                st.dataframe(metrics, key=f"metrics_{key}")
                st.json(evidence["lineage"], expanded=False)
                for sample in evidence["sample_explanations"]:
                    if item.task == "binary":  # in points out of 100, as scores are everywhere
                        top = "; ".join(f"{n} {v * 100:+.1f}" for n, v in sample["top"])
                        said = f"score {score(sample['output'])}"
                    else:
                        top = "; ".join(f"{n} {v:+.3g}" for n, v in sample["top"])
                        said = f"prediction {sample['output']:,.4g}"
                    st.text(f"- {said}: {top}")
            if "settings" in evidence:
                with st.expander("Settings the gates read, frozen, and who changed them"):
                    frozen = gate_settings.flat(evidence["settings"])
                    st.dataframe(
                        pd.DataFrame(
                            {
                                "setting": list(frozen),
                                "value": [gate_settings.shown(v) for v in frozen.values()],
                            }
                        ),
                        hide_index=True,
                        key=f"settings_{key}",
                    )
                    changes = pd.DataFrame(evidence["settings_changes"], columns=CHANGE_COLUMNS)
                    for column in ("before", "after"):
                        changes[column] = changes[column].map(gate_settings.shown)
                    st.caption("Changes since this version was registered")
                    st.dataframe(changes, hide_index=True, key=f"settings_changes_{key}")
            st.caption(
                f"Evidence sha256 `{item.evidence_sha256}` — a sign-off refers to it, "
                "so what is approved cannot change afterwards."
            )
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
        if live.rollback_to is None:
            st.caption(escape_markdown(f"No rollback: {live.no_rollback_because}."))
            continue
        sure = st.checkbox(
            f"I confirm rolling back to v{live.rollback_to}",
            key=f"confirm_rollback_{live.model}",
        )
        if st.button("Roll back", key=f"rollback_{live.model}", disabled=not sure):
            _act("Rolled back.", workflow.rollback, model=live.model)
