"""The evidence a version is judged on, as its card shows it from review to production: money
first, then the release gates, then the metrics, with lineage, samples and settings below.

It reads the evidence frozen with the review (core.workflow), whose money figures come from
core.value.figures with their basis; this module only lays them out.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from app.tables import Column, table
from app.text import escape_markdown
from core import gate_settings
from core.metrics import metric_name
from core.words import METRIC_MEANINGS, money, score

CHANGE_COLUMNS = ["at", "by", "key", "before", "after"]
_ICONS = {
    "pass": ":green[pass]",
    "warn": ":orange[warn]",
    "fail": ":red[fail]",
    "n/a": ":gray[n/a]",
}


def evidence_card(
    evidence: dict[str, Any], *, version: int, unit: str, task: str, sha256: str | None, key: str
) -> None:
    """The whole frozen evidence of VERSION: money, gates, metrics, then the details."""
    kpi = next((g for g in evidence["gates"] if g["name"] == "kpi"), None)
    money_first(kpi, version=version, live=evidence.get("live_version"), unit=unit, key=key)
    gate_table(evidence["gates"])
    metrics_table(evidence["metrics"], version=version, live=evidence.get("live_version"), key=key)
    with st.expander("Lineage and sample explanations"):
        st.json(evidence["lineage"], expanded=False)
        for sample in evidence["sample_explanations"]:
            if task == "binary":  # in points out of 100, as scores are everywhere
                top = "; ".join(f"{n} {v * 100:+.1f}" for n, v in sample["top"])
                said = f"score {score(sample['output'])}"
            else:
                top = "; ".join(f"{n} {v:+.3g}" for n, v in sample["top"])
                said = f"prediction {sample['output']:,.4g}"
            st.text(f"- {said}: {top}")
    if "settings" in evidence:
        settings_tables(evidence, key=key)
    st.caption(
        f"Evidence sha256 `{sha256}` — a sign-off refers to it, so what is approved cannot "
        "change afterwards."
    )


def money_first(
    kpi: dict[str, Any] | None, *, version: int, live: int | None, unit: str, key: str
) -> None:
    """What the version earns: against the live one on the same decisions, or, with nothing
    live, on its reference and its own decisions; then the gate's sentence with the basis."""
    numbers = (kpi or {}).get("numbers", {})
    unit, per = numbers.get("unit", unit), escape_markdown(numbers.get("per", "per period"))
    if "live" in numbers:
        a, b = st.columns(2)
        a.metric(f"Live v{live} {per}", escape_markdown(money(numbers["live"], unit)))
        b.metric(
            f"Candidate v{version} {per}",
            escape_markdown(money(numbers["candidate"], unit)),
            delta=escape_markdown(money(numbers["candidate"] - numbers["live"], unit)),
        )
    elif "reference_figure" in numbers:
        shown = [(f"v{version} on its reference", numbers["reference_figure"])]
        if numbers.get("latest_figure"):
            shown.append((f"v{version}, {numbers['latest_label']}", numbers["latest_figure"]))
        for column, (label, figure) in zip(st.columns(2), shown, strict=False):
            if figure["value_per_period"] is None:
                column.metric(
                    f"{label} per decision",
                    escape_markdown(money(figure["value_per_decision"], unit)),
                )
            else:
                column.metric(
                    f"{label} {per}", escape_markdown(money(figure["value_per_period"], unit))
                )
    if kpi:
        st.write(escape_markdown(kpi["summary"]))
    if "table" in numbers and "basis" in numbers:
        table(pd.DataFrame(numbers["table"]), key=f"kpi_{key}")


def gate_table(gates: list[dict]) -> None:
    """Release gates with their verdict, whether they block, and the finding."""
    for gate in gates:
        blocking = " · blocking" if gate["blocking"] else ""
        st.markdown(
            f"{_ICONS.get(gate['status'], gate['status'])} **{escape_markdown(gate['name'])}**"
            f"{blocking} — {escape_markdown(gate['summary'])}"
        )


def metrics_table(metrics: dict[str, Any], *, version: int, live: int | None, key: str) -> None:
    """Each metric of the candidate (and the live version) on its validation data, named as
    people name it with what it measures beside it."""
    candidate, current = metrics["candidate"], metrics["live"] or {}
    names = list(dict.fromkeys([*candidate, *current]))
    frame = pd.DataFrame(
        {
            "metric": [_capital(metric_name(n)) for n in names],
            "meaning": [_meaning(n) for n in names],
            "candidate": [candidate.get(n) for n in names],
            "live": [current.get(n) for n in names],
        }
    )
    columns = {
        "metric": Column("Metric"),
        "meaning": Column("What it measures"),
        "candidate": Column(f"Candidate v{version}", "number"),
    }
    if live is not None:
        columns["live"] = Column(f"Live v{live}", "number")
    st.caption("Measured on each version's validation data")
    table(frame, columns, key=f"metrics_{key}")


def _meaning(metric: str) -> str:
    base, _, of = metric.partition(":")
    if base == "precision" and of:
        return f"the share of its {of} decisions that were right"
    if base == "recall" and of:
        return f"the share of real {of} cases it decided {of}"
    return METRIC_MEANINGS.get(metric, "")


def _capital(words: str) -> str:
    return words[:1].upper() + words[1:]


def settings_tables(evidence: dict[str, Any], *, key: str) -> None:
    """The settings the gates read, frozen, and who changed them since registration."""
    with st.expander("Settings the gates read, frozen, and who changed them"):
        frozen = gate_settings.flat(evidence["settings"])
        table(
            pd.DataFrame(
                {
                    "setting": list(frozen),
                    "value": [gate_settings.shown(v) for v in frozen.values()],
                }
            ),
            {"setting": Column("Setting"), "value": Column("Value")},
            key=f"settings_{key}",
        )
        changes = pd.DataFrame(evidence["settings_changes"], columns=CHANGE_COLUMNS)
        for column in ("before", "after"):
            changes[column] = changes[column].map(gate_settings.shown)
        st.caption("Changes since this version was registered")
        table(
            changes,
            {
                "at": Column("When (UTC)", "time"),
                "by": Column("By"),
                "key": Column("Setting"),
                "before": Column("Before"),
                "after": Column("After"),
            },
            key=f"settings_changes_{key}",
        )
