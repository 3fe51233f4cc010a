"""Performance verdicts: which windows can be judged, when a metric is worse, and the sentence."""

from __future__ import annotations

import pandas as pd

from core.monitoring.performance_verdicts import (
    TOO_FEW,
    USUAL,
    WORSE,
    judged,
    performance_sentence,
    verdicts,
)

WEEKS = pd.date_range("2026-06-29", periods=6, freq="W-MON")


def _window(
    i: int,
    metric: str,
    *,
    realized: float | None,
    estimated: float,
    band: tuple[float, float],
    n: int = 10_000,
    labels: int = 5_000,
) -> dict:
    lower, upper = band
    judged_on = estimated if realized is None else realized
    worse = judged_on > upper if metric == "calibration_error" else judged_on < lower
    return {
        "window_start": WEEKS[i],
        "window_end": WEEKS[i] + pd.Timedelta(days=7),
        "n": n,
        "n_labeled": labels if realized is not None else 0,
        "metric": metric,
        "estimated": estimated,
        "realized": realized,
        "lower": lower,
        "upper": upper,
        "alert": bool(worse),
    }


def _auc(values: list[float | None], *, last_labels: int = 5_000, last_band=(0.72, 0.78)):
    rows = []
    for i, value in enumerate(values):
        last = i == len(values) - 1
        rows.append(
            _window(
                i,
                "roc_auc",
                realized=value,
                estimated=0.75,
                band=last_band if last else (0.72, 0.78),
                labels=last_labels if last else 5_000,
            )
        )
    return rows


def _calibration(values: list[float | None]) -> list[dict]:
    return [
        _window(i, "calibration_error", realized=v, estimated=0.01, band=(0.005, 0.03))
        for i, v in enumerate(values)
    ]


def _sentence(perf: pd.DataFrame) -> str:
    return performance_sentence(
        perf,
        task="binary",
        reference={"roc_auc": 0.75, "calibration_error": 0.01},
        metrics=("roc_auc", "calibration_error"),
        consecutive=2,
    )


def test_a_last_window_with_few_outcomes_is_too_few_to_judge_and_is_said_to_be() -> None:
    # The case: July weeks measured about 0.70, then a sparse week reads 0.80 with a
    # band of 0.58-0.95. The sparse week must not speak for the model.
    perf = pd.DataFrame(
        _auc([0.75, 0.75, 0.70, 0.70, 0.80], last_labels=180, last_band=(0.58, 0.95))
    )

    table = judged(perf)

    assert table["judged"].tolist() == [True, True, True, True, False]
    sentence = _sentence(perf)
    assert sentence == (
        "Estimated AUC unchanged at 0.75. Labels up to 27 Jul measure AUC 0.70 (training 0.75), "
        "not the 0.75 the scores suggest: outcomes no longer follow the inputs as they did in "
        "training. The 180 outcomes in so far for 27 Jul–03 Aug are too few to judge: AUC could "
        "read anywhere from 0.58 to 0.95 by chance. Labels confirm a lower AUC since 13 Jul."
    )


def test_a_metric_is_worse_from_the_first_of_two_judged_windows_outside_its_range() -> None:
    perf = pd.DataFrame(_auc([0.75, 0.70, 0.75, 0.70, 0.69, None]))

    found = {(v.metric, v.basis): v for v in verdicts(perf, metrics=("roc_auc",), consecutive=2)}

    measured = found[("roc_auc", "realized")]
    assert (measured.state, measured.since, measured.value) == (WORSE, WEEKS[3], 0.69)
    assert found[("roc_auc", "estimated")].state == USUAL


def test_windows_with_thin_labels_or_just_begun_are_not_judged() -> None:
    rows = _auc([0.75, 0.75, 0.75, 0.75])
    rows[2]["n_labeled"] = 300  # under a ninth of the usual 5,000 outcomes
    rows[3]["n"] = 1_000  # a tenth of a usual window: the period has just begun

    assert judged(pd.DataFrame(rows))["judged"].tolist() == [True, True, False, False]


def test_no_sentence_calls_every_metric_usual_while_one_of_them_is_worse() -> None:
    perf = pd.DataFrame(_auc([0.75, 0.75, 0.76, 0.75]) + _calibration([0.01, 0.01, 0.06, 0.08]))

    sentence = _sentence(perf)

    assert sentence.endswith("Labels confirm a worse calibration error since 13 Jul.")
    assert "usual range" not in sentence


def test_one_window_outside_the_range_is_said_without_claiming_all_is_well() -> None:
    perf = pd.DataFrame(_auc([0.75, 0.75, 0.75, 0.70]))

    assert _sentence(perf).endswith(
        "AUC measured outside the usual range in the latest judged window; one more such "
        "window in a row opens an alert."
    )


def test_estimates_alone_suggest_a_loss_but_do_not_confirm_it() -> None:
    rows = [
        _window(i, "roc_auc", realized=None, estimated=e, band=(0.72, 0.78))
        for i, e in enumerate([0.75, 0.74, 0.70, 0.69])
    ]

    sentence = _sentence(pd.DataFrame(rows))

    assert sentence == (
        "Estimated AUC down 0.06 against training. Estimates suggest a lower AUC since 13 Jul; "
        "outcomes are not in yet to confirm it."
    )


def test_with_no_judged_window_the_metric_has_too_few_outcomes() -> None:
    perf = pd.DataFrame(_auc([0.70], last_labels=150, last_band=(0.5, 0.95)))

    found = verdicts(perf, metrics=("roc_auc",), consecutive=2)

    assert [v.state for v in found] == [TOO_FEW]
