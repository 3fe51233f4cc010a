"""A multiclass model's prediction-log columns: the predicted class, checked against the
model's classes, and one probability per class, each a probability and summing to 1."""

from __future__ import annotations

from collections.abc import Callable

from core.ingest.validation import (
    Check,
    feature_checks,
    number_sent_sql,
    number_sql,
    present_sql,
    text_sql,
)
from core.registry.classes import (
    SUM_TOLERANCE,
    ClassOutputs,
    canonical_class_sql,
    predicted_probability_sql,
)


def class_columns(
    outputs: ClassOutputs, *, col: Callable[[str], tuple[str, str]], tolerance: float
) -> tuple[dict[str, str], dict[str, str], list[Check]]:
    """What a multiclass log row stores (log column -> SQL), which values were sent, and the
    checks that quarantine a row: no or an unknown predicted class, a probability missing,
    unreadable or outside 0-1, or probabilities not summing to 1."""
    classes = list(outputs.probabilities)
    predicted = outputs.predicted
    stored = {
        predicted.column: canonical_class_sql(text_sql(*col(predicted.name)), classes),
        "score": predicted_probability_sql(
            text_sql(*col(predicted.name)),
            {c: number_sql(*col(f.name)) for c, f in outputs.probabilities.items()},
        ),
    }
    sent = {"__mb_score_sent": present_sql(*col(predicted.name))}
    checks = [
        Check("missing_prediction", "NOT __mb_score_sent"),
        Check("unknown_predicted_class", f"__mb_score_sent AND __mb_{predicted.column} IS NULL"),
    ]
    values = []
    for f in outputs.probabilities.values():
        value = f"__mb_{f.column}"
        stored[f.column] = number_sql(*col(f.name))
        sent[f"{value}_sent"] = number_sent_sql(*col(f.name))
        # Only the checks that reject: the reference's range of a probability says nothing.
        checks += [c for c in feature_checks(f, tolerance, value, f"{value}_sent") if c.rejects]
        values.append(value)
    outside = " OR ".join(f"({v} < 0 OR {v} > 1)" for v in values)
    checks.append(Check("probability_outside_0_1", f"COALESCE({outside}, false)"))
    total = " + ".join(values)
    checks.append(
        Check(
            "probabilities_not_summing_to_1", f"COALESCE(abs({total} - 1) > {SUM_TOLERANCE}, false)"
        )
    )
    return stored, sent, checks
