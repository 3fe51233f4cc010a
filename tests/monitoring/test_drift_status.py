"""The drift page's plain-language status: dates match the alerts, labels speak before estimates."""

from __future__ import annotations

import pandas as pd

from core.monitoring.drift_report import status
from core.registry.features import Feature
from core.store import Model, ModelVersion

WEEKS = pd.date_range("2025-11-03", periods=6, freq="W-MON")


def _model() -> Model:
    return Model(id=1, name="tumour", task="binary", settings={})


def _version() -> ModelVersion:
    features = [Feature("radius", "numeric", "f1"), Feature("clinic", "categorical", "f2")]
    return ModelVersion(
        model_id=1,
        version=1,
        metrics={"roc_auc": 0.99},
        feature_schema={"features": [f.to_json() for f in features]},
    )


def _drift(radius_alerts: list[bool]) -> pd.DataFrame:
    rows = []
    for feature, alerts in [
        ("radius", radius_alerts),
        ("clinic", [False] * 6),
        ("prediction", [False] * 6),
    ]:
        for start, alert in zip(WEEKS, alerts, strict=True):
            rows.append(
                {
                    "window_start": start,
                    "window_end": start + pd.Timedelta(days=7),
                    "n": 1000,
                    "feature": feature,
                    "kind": "numeric",
                    "method": "psi",
                    "value": 0.5 if alert else 0.01,
                    "threshold": 0.2,
                    "signal": alert,
                    "primary": True,
                    "drifted": alert,
                }
            )
    return pd.DataFrame(rows)


def _perf(estimated: list[float], realized: list[float | None]) -> pd.DataFrame:
    """Weekly AUC windows of 1,000 rows, labelled ones with 1,000 outcomes; usual range 0.9-1."""
    rows = []
    for start, est, real in zip(WEEKS, estimated, realized, strict=True):
        rows.append(
            {
                "window_start": start,
                "window_end": start + pd.Timedelta(days=7),
                "n": 1000,
                "n_labeled": 0 if real is None else 1000,
                "metric": "roc_auc",
                "estimated": est,
                "realized": real,
                "lower": 0.9,
                "upper": 1.0,
                "alert": (est if real is None else real) < 0.9,
            }
        )
    return pd.DataFrame(rows)


def test_drift_dates_from_the_first_of_two_windows_in_a_row_as_its_alert_does() -> None:
    found = status(
        _model(),
        _version(),
        _drift([False, True, False, True, True, True]),
        _perf([0.99] * 6, [None] * 6),
    )

    assert found.startswith("Inputs drifted in 1 of 2 features since 24 Nov 2025 (radius).")


def test_labels_that_contradict_an_unchanged_estimate_are_said_first() -> None:
    # Concept drift: the scores look as usual, the outcomes do not follow them any more.
    found = status(
        _model(),
        _version(),
        _drift([False] * 6),
        _perf([0.99, 0.99, 0.98, 0.98, 0.98, 0.98], [0.99, 0.98, 0.6, 0.45, 0.43, None]),
    )

    assert found == (
        "No input drifted from the training data in any of the 2 features. "
        "Estimated AUC down 0.01 against training. "
        "Labels up to 08 Dec measure AUC 0.43 (training 0.99), not the 0.98 the scores "
        "suggest: outcomes no longer follow the inputs as they did in training. "
        "Labels confirm a lower AUC since 17 Nov."
    )


def test_labels_that_agree_with_the_estimate_are_reported_plainly() -> None:
    found = status(
        _model(),
        _version(),
        _drift([False] * 6),
        _perf([0.99] * 6, [0.99, 0.98, 0.99, None, None, None]),
    )

    assert found.endswith(
        "Estimated AUC unchanged at 0.99. Labels up to 24 Nov measure AUC 0.99 (training 0.99). "
        "Every measured metric is within its usual range."
    )
