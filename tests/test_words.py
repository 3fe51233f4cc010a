"""Words and numbers as people read them, from the one module that says them all."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta, timezone

import numpy as np
import pytest

from core import words
from tests.conftest import ROOT


@pytest.mark.parametrize(
    ("value", "unit", "said"),
    [
        (3_654_321.0, "EUR", "3.65 M EUR"),
        (250_400.0, "EUR", "250 k EUR"),
        (10_000.0, "EUR", "10 k EUR"),
        (9_999.4, "EUR", "9,999 EUR"),
        (1_234.0, "", "1,234"),
        (-1_500_000.0, "USD", "-1.50 M USD"),
        (-42.0, "EUR", "-42 EUR"),
        (0.0, "EUR", "0 EUR"),
        (None, "EUR", "–"),
    ],
)
def test_money_is_said_in_millions_thousands_or_units(
    value: float | None, unit: str, said: str
) -> None:
    assert words.money(value, unit) == said


@pytest.mark.parametrize(
    ("value", "said"),
    [(1234.5, "1,234.50"), (-0.001, "0.00"), (-12.345, "-12.35"), (0.0, "0.00"), (None, "-")],
)
def test_exact_money_keeps_the_cents_and_never_says_minus_zero(
    value: float | None, said: str
) -> None:
    assert words.exact_money(value) == said


def test_importing_the_words_loads_no_data_library() -> None:
    check = (
        "import sys, core.words; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & "
        "{'pandas', 'numpy', 'sqlmodel', 'sqlalchemy', 'duckdb'}))"
    )

    done = subprocess.run(
        [sys.executable, "-c", check], cwd=ROOT, capture_output=True, text=True, timeout=60
    )

    assert done.stdout.strip() == "[]", done.stderr


def test_periods_are_named_by_their_letter() -> None:
    assert words.PERIODS == {"D": "day", "W": "week", "M": "month"}


def test_a_plain_value_unwraps_numpy_and_says_missing_as_none() -> None:
    assert words.plain(np.float64(48.5)) == 48.5
    assert type(words.plain(np.float64(48.5))) is float
    assert type(words.plain(np.int64(3))) is int
    assert words.plain(np.bool_(True)) is True
    assert words.plain(np.float64("nan")) is None
    assert words.plain(float("nan")) is None
    assert words.plain(None) is None
    assert words.plain("retail") == "retail"


@pytest.mark.parametrize(
    ("value", "unit", "said"),
    [
        (48.0, "%", "48%"),
        (2.5, "‰", "2.5‰"),
        (52_000.0, "EUR", "52,000 EUR"),
        (0.125, "", "0.12"),
        (0.003, "mg/L", "0.003 mg/L"),
        (0.0004567, "", "0.00046"),
        (-0.0049, "", "-0.0049"),
        (0.0, "", "0"),
        (-0.0, "", "0"),
        (1.10, "years", "1.1 years"),
        (-3.0, "", "-3"),
        ("retail", "", "'retail'"),
        ("36", "months", "'36' months"),
        (None, "EUR", "not provided"),
    ],
)
def test_a_quantity_is_said_with_its_unit(value: object, unit: str, said: str) -> None:
    assert words.quantity(value, unit) == said


@pytest.mark.parametrize(
    ("name", "said"),
    [
        ("debt_to_income", "Debt to income"),
        ("debt ratio", "Debt ratio"),
        ("loan-amount", "Loan amount"),
        ("_age_", "Age"),
        ("income", "Income"),
        ("___", "___"),
    ],
)
def test_a_feature_name_is_said_in_plain_words(name: str, said: str) -> None:
    assert words.default_label(name) == said


@pytest.mark.parametrize(
    ("value", "threshold", "said"),
    [
        (0.1149, None, "11 / 100"),
        (0.31, 0.5, "31 / 100"),
        (0.504, 0.505, "50 / 100"),
        (0.5052, 0.5051, "51 / 100"),
        (0.5049, 0.5, "50 / 100"),
        (0.4996, 0.5, "49.96 / 100"),  # whole points would put a case below 50 at or above it
        (None, 0.5, "–"),
    ],
)
def test_a_score_reads_in_points_out_of_100_on_the_right_side_of_its_threshold(
    value: float | None, threshold: float | None, said: str
) -> None:
    assert words.score(value, threshold=threshold) == said


def test_a_threshold_reads_in_points_with_a_decimal_only_where_it_has_one() -> None:
    assert [words.points(t) for t in (0.5, 0.12, 0.505, 0.0)] == ["50", "12", "50.5", "0"]


@pytest.mark.parametrize(
    ("value", "said"),
    [
        (3_423_543.6893, "3,423,544"),
        (12.3456, "12.35"),
        (2.0, "2"),
        (0.5449, "0.545"),
        (0.0042317, "0.00423"),
        (-0.25, "-0.25"),
        (0.0, "0"),
        (None, "–"),
        (float("nan"), "–"),
    ],
)
def test_a_measured_number_is_rounded_for_reading(value: float | None, said: str) -> None:
    assert words.number(value) == said


def test_a_moment_reads_as_a_day_and_minutes_in_utc_and_midnight_as_the_day() -> None:
    assert words.moment(datetime(2026, 5, 1)) == "1 May 2026"
    assert words.moment(datetime(2026, 5, 1, 14, 5, 59)) == "1 May 2026 14:05"
    paris = timezone(timedelta(hours=2))
    assert words.moment(datetime(2026, 5, 1, 16, 5, tzinfo=paris)) == "1 May 2026 14:05"
    assert words.moment(datetime(2026, 5, 1, tzinfo=UTC)) == "1 May 2026"


def test_quality_says_what_a_metric_means_without_naming_it() -> None:
    assert words.quality("binary", {"roc_auc": 0.8234, "f1": 0.4}) == (
        "Scores a real case above one that is not 82 times in 100."
    )
    assert words.quality("regression", {"mae": 1234.5}) == "Off by 1,234 on average."
    assert words.quality("regression", {"mae": 1234.5}, clause=True) == (
        "is off by 1,234 on average"
    )
    assert words.quality("binary", {}) == "Not measured: the reference had no outcomes."
    assert words.quality("multiclass", {"accuracy": 0.913, "macro_f1": 0.9}) == (
        "Decides the right class 91 times in 100."
    )


@pytest.mark.parametrize(
    ("label", "said"), [("Annual income", "annual income"), ("DTI ratio", "DTI ratio"), ("x", "x")]
)
def test_a_label_inside_a_sentence_keeps_an_acronym(label: str, said: str) -> None:
    assert words.in_sentence(label) == said


def test_a_metric_reads_in_words_with_its_class() -> None:
    from core.metrics import metric_name

    assert metric_name("roc_auc") == "AUC"
    assert metric_name("precision:account") == "precision of account"
    assert metric_name("macro_f1").lower() == "macro f1"
