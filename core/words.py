"""The one place for words and numbers as people read them: user roles, model tasks, period
words, money, scores, numbers with their units, plain feature values and feature names in
plain words.
Free of heavy imports so that the CLI's parser can offer the roles and tasks without loading
pandas or SQLModel."""

from __future__ import annotations

import math
import unicodedata
from datetime import UTC
from typing import Any

ROLES = ("manager", "domain_expert", "product_owner", "ml_engineer", "admin")
TASKS = ("binary", "regression", "multiclass")
# Calendar periods by their letter, named as people and date_trunc both name them.
PERIODS = {"D": "day", "W": "week", "M": "month"}
# A version's stage as people say it.
STAGES = {
    "registered": "registered",
    "in_review": "in review",
    "approved": "approved",
    "production": "live",
    "archived": "archived",
    "rejected": "rejected",
}


def money(value: float | None, unit: str) -> str:
    """A money amount as people read it: 3.65 M EUR, 250 k EUR, 1,234 EUR."""
    if value is None:
        return "–"
    size = abs(value)
    sign = "-" if value < 0 else ""
    if size >= 1e6:
        return f"{sign}{size / 1e6:,.2f} M {unit}".strip()
    if size >= 1e4:
        return f"{sign}{size / 1e3:,.0f} k {unit}".strip()
    return f"{sign}{size:,.0f} {unit}".strip()


def day(when: Any) -> str:
    """A date as people read it: '13 Jul 2026'."""
    return f"{when.day} {when:%b %Y}"


def moment(when: Any) -> str:
    """A time as people read it, in UTC: '13 Jul 2026 14:05'; midnight reads as the day."""
    if getattr(when, "tzinfo", None) is not None:
        when = when.astimezone(UTC)
    if (when.hour, when.minute, when.second) == (0, 0, 0):
        return day(when)
    return f"{day(when)} {when:%H:%M}"


def number(value: float | None) -> str:
    """A measured number rounded for reading: '3,423,544', '12.35', '0.00423'; '–' when unknown."""
    if value is None or math.isnan(value):
        return "–"
    size = abs(value)
    if size >= 100:
        return f"{value:,.0f}"
    if size >= 1:
        return f"{value:,.2f}".rstrip("0").rstrip(".")
    if size == 0:
        return "0"
    # Three significant digits, however small: 0.004231 -> 0.00423.
    decimals = 2 - math.floor(math.log10(size))
    return f"{value:.{decimals}f}".rstrip("0").rstrip(".")


def period_words(start: Any, end: Any, period: str | None) -> str:
    """A window in words, as 'in …' completes it: 'Jul 2026' for a month, 'the week of
    13 Jul 2026', '13 Jul 2026' for a day; any other span as '1 May to 28 Aug 2026'."""
    if period == "M":
        return f"{start:%b %Y}"
    if period == "W":
        return f"the week of {day(start)}"
    if period == "D":
        return day(start)
    return f"{day(start)} to {day(end)}"


def exact_money(value: float | None) -> str:
    """A money amount to the cent for text a pipeline reads: 1,234.50, '-' when unknown."""
    if value is None:
        return "-"
    return f"{value + 0.0 if round(value, 2) else 0.0:,.2f}"  # never "-0.00"


def quantity(value: Any, unit: str) -> str:
    """A feature value with its unit: '48%', '52,000 EUR', "'36' months", or 'not provided'."""
    if value is None:
        return "not provided"
    if isinstance(value, float):
        text = f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.2f}".rstrip("0").rstrip(".")
        if text in ("0", "-0"):
            # Two decimals would say "0" for 0.003: give a small value its first two digits.
            decimals = 1 - math.floor(math.log10(abs(value))) if value else 0
            text = f"{value:.{decimals}f}".rstrip("0").rstrip(".") if value else "0"
    else:
        text = f"'{value}'"
    if not unit:
        return text
    return f"{text}{unit}" if unit in ("%", "‰") else f"{text} {unit}"


def score(value: float | None, *, threshold: float | None = None) -> str:
    """A binary model's score as people read it on every page and in every sentence: whole
    points out of 100 ('31 / 100'). Beside a THRESHOLD, a score that whole points would put on
    the wrong side of it (50.4 against 50.5, 49.96 against 50) keeps the decimals it needs."""
    if value is None or math.isnan(value):
        return "–"
    for decimals in range(5):
        text = f"{value * 100:.{decimals}f}"
        if threshold is None or (value >= threshold) == (float(text) >= threshold * 100):
            break
    return f"{text} / 100"


def points(value: float) -> str:
    """A threshold on the score's scale, in points: 0.5 -> '50', 0.505 -> '50.5'."""
    return f"{value * 100:.1f}".removesuffix(".0")


# Control, format (zero-width, bidi overrides), separator, surrogate, private and unassigned
# characters: invisible or reordering, they make look-alike names.
_HIDDEN = {"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"}


def checked_name(text: str, *, what: str, limit: int) -> str:
    """TEXT as a name people will read and type (NFC, trimmed), or ValueError saying why not:
    empty, longer than LIMIT characters, or holding characters that cannot be seen."""
    name = unicodedata.normalize("NFC", text).strip()
    if not name:
        raise ValueError(f"the {what} is empty")
    if len(name) > limit:
        raise ValueError(
            f"the {what} is {len(name):,} characters long; at most {limit} are allowed"
        )
    hidden = sorted({f"U+{ord(c):04X}" for c in name if unicodedata.category(c) in _HIDDEN})
    if hidden:
        raise ValueError(
            f"the {what} holds characters that cannot be seen ({', '.join(hidden)}); "
            "use visible letters, digits and punctuation"
        )
    return name


def plain(value: Any) -> Any:
    """A feature value as plain Python: None for missing or NaN, numpy scalars unwrapped."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None  # a missing value, not NaN, which JSON cannot carry
    return value.item() if hasattr(value, "item") else value


def in_sentence(label: str) -> str:
    """A label as it reads inside a sentence: 'Annual income' -> 'annual income'; an acronym
    ('DTI ratio') keeps its capitals."""
    if label[1:2].isupper():
        return label
    return label[:1].lower() + label[1:]


def default_label(name: str) -> str:
    """A feature's name in plain words: 'debt_to_income' -> 'Debt to income'."""
    words = name.replace("_", " ").replace("-", " ").strip()
    return words[:1].upper() + words[1:] if words else name


# What each model metric tells a person, beside its technical name.
METRIC_MEANINGS = {
    "roc_auc": "how often a real case scores above one that is not (0.5 is chance, 1 perfect)",
    "f1": "the balance of catching real cases and not flagging others (1 is perfect)",
    "brier": "how far scores are from what happened (0 is perfect)",
    "precision": "the share of flagged cases that were real",
    "recall": "the share of real cases that were flagged",
    "accuracy": "the share of decisions that were right",
    "macro_f1": "the balance of finding each class and not mistaking others for it, averaged "
    "over the classes (1 is perfect)",
    "positive_rate": "the share of real cases in the data",
    "calibration_error": "how far scores are from the share of cases that turn out real",
    "mae": "the average size of an error",
    "rmse": "the typical size of an error, large ones weighing more",
    "mape": "the average error as a share of the true value",
    "r2": "the share of the variation the model explains (1 is perfect)",
}


def quality(task: str, metrics: dict[str, Any], *, clause: bool = False) -> str:
    """How good a version was on its validation data, in a plain sentence ('Scores a real case
    above one that is not 82 times in 100.'), or as a CLAUSE to follow 'it'."""
    if task == "binary" and metrics.get("roc_auc") is not None:
        times = round(float(metrics["roc_auc"]) * 100)
        said = f"scores a real case above one that is not {times} times in 100"
    elif task == "multiclass" and metrics.get("accuracy") is not None:
        said = f"decides the right class {round(float(metrics['accuracy']) * 100)} times in 100"
    elif task == "regression" and metrics.get("mae") is not None:
        said = f"is off by {number(float(metrics['mae']))} on average"
    else:
        said = "was not measured: the reference had no outcomes"
    if clause:
        return said
    said = said.removeprefix("is ").removeprefix("was ")
    return f"{said[:1].upper()}{said[1:]}."
