"""Alerts in plain words: what changed and since when, no statistic (issue 18: alerts spoke of
'Wasserstein distance 0.55' and 'reconstruction error 1.73 vs 1.72' to managers)."""

from __future__ import annotations

import pytest

from core.monitoring.alert_words import in_words


def _alert(kind: str, subject: str, severity: str) -> dict[str, object]:
    return {"kind": kind, "subject": subject, "severity": severity,
            "since": "2026-05-25T00:00:00+00:00"}  # fmt: skip


@pytest.mark.parametrize(
    ("kind", "subject", "severity", "label", "said"),
    [
        ("drift", "income", "medium", "Annual income",
         "Since 25 May 2026, annual income values differ a lot from those the model was trained "
         "on."),
        ("drift", "debt_to_income", "low", None,
         "Since 25 May 2026, debt to income values differ noticeably from those the model was "
         "trained on."),
        ("multivariate", "all inputs", "medium", None,
         "Since 25 May 2026, the inputs taken together no longer look like the training data, "
         "though no single one stands out."),
        ("prediction_drift", "prediction", "medium", None,
         "Since 25 May 2026, the model's scores differ from those it gave in training: it "
         "decides differently than it did."),
        ("performance", "roc_auc", "high", None,
         "Since 25 May 2026, outcomes show the model making more mistakes than in training."),
        ("performance", "roc_auc (estimated)", "medium", None,
         "Since 25 May 2026, the model looks likely to be making more mistakes than in "
         "training; outcomes are not in yet to confirm it."),
    ],
)  # fmt: skip
def test_an_alert_reads_as_a_plain_sentence_without_its_statistic(
    kind: str, subject: str, severity: str, label: str | None, said: str
) -> None:
    assert in_words(_alert(kind, subject, severity), label=label) == said
