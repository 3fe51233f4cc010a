"""Alerts in plain words for people who do not read statistics: what changed and since when,
the input named as its version's words name it. The statistic stays in the alert's `reason`
(core.monitoring.alerts), for the technical view."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from core.registry import get_version
from core.registry.feature_metadata import vocabulary
from core.store import Model, Work
from core.words import day, default_label, in_sentence


def in_words(alert: dict[str, Any], *, label: str | None = None) -> str:
    """An alert (a list_alerts record) as a plain sentence for people who do not read
    statistics, e.g. 'Since 25 May 2026, loan amount values differ a lot from those the model
    was trained on.'; LABEL is the input's name in words. The statistic stays in `reason`, for
    the technical view."""
    since = day(datetime.fromisoformat(alert["since"])) if alert["since"] else "recently"
    kind = alert["kind"]
    if kind == "drift":
        name = label or default_label(alert["subject"])
        amount = "noticeably" if alert["severity"] == "low" else "a lot"
        return (
            f"Since {since}, {in_sentence(name)} values differ {amount} from those the "
            "model was trained on."
        )
    if kind == "prediction_drift":
        return (
            f"Since {since}, the model's scores differ from those it gave in training: it "
            "decides differently than it did."
        )
    if kind == "multivariate":
        return (
            f"Since {since}, the inputs taken together no longer look like the training data, "
            "though no single one stands out."
        )
    if alert["severity"] == "high":
        return f"Since {since}, outcomes show the model making more mistakes than in training."
    return (
        f"Since {since}, the model looks likely to be making more mistakes than in training; "
        "outcomes are not in yet to confirm it."
    )


def plain_reasons(w: Work, *, model: Model, found: list[dict[str, Any]]) -> list[str]:
    """`in_words` for each alert of FOUND, its input named with its version's words."""
    out = []
    for alert in found:
        label = None
        if alert["kind"] == "drift":
            version = get_version(w, model=model, version=alert["version"])
            label = vocabulary(version, model.task).info(alert["subject"]).label
        out.append(in_words(alert, label=label))
    return out
