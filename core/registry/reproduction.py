"""Does a model file produce the scores its reference says it produced?

The reference's prediction column is what the version's metrics are computed from. A pipeline can
write any numbers there (perfect scores, another model's), so ModelBridge scores the reference's
own rows with the model file and compares: at registration (a warning) and at review (the
blocking `reproduction` gate, frozen with the evidence).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from core.errors import InvalidInput
from core.files.sources import quote_ident
from core.registry.artifacts import positive_scores
from core.registry.features import Feature
from core.store import Model, Work, log_tables

ROWS = 2000  # reference rows scored, the first ones in file order
TOLERANCE = 1e-6  # relative to the score's size, at least absolute 1e-6


@dataclass(frozen=True)
class Reproduction:
    """How far the model file's scores are from the reference's prediction column."""

    rows: int
    differing: int
    max_gap: float

    @property
    def holds(self) -> bool:
        return self.rows > 0 and self.differing == 0

    def sentence(self) -> str:
        if self.holds:
            return (
                f"The model file reproduces the reference's scores on {self.rows:,} rows, so "
                "the version's metrics are this model's."
            )
        return (
            f"The model file's scores differ from the reference's prediction column on "
            f"{self.differing:,} of {self.rows:,} rows, by up to {self.max_gap:.3g}: the "
            "version's metrics were not produced by this model file."
        )

    def numbers(self) -> dict[str, Any]:
        return {"rows": self.rows, "differing": self.differing, "max_gap": self.max_gap}


def reproduce(
    w: Work,
    *,
    model: Model,
    version: int,
    features: list[Feature],
    estimator: Any,
    positive_class: str | None,
    rows: int = ROWS,
) -> Reproduction:
    """Score the first ROWS reference rows of VERSION with ESTIMATOR (the probability of
    POSITIVE_CLASS, or the prediction when None) and compare."""
    assert model.id is not None
    cols = ", ".join(f"{f.column} AS {quote_ident(f.name)}" for f in features)
    sample = w.frame(
        f"SELECT score, {cols} FROM {log_tables.ref_table(model.id)} "
        "WHERE version = ? ORDER BY row_no LIMIT ?",
        [version, int(rows)],
    )
    try:
        scores = positive_scores(estimator, sample[[f.name for f in features]], positive_class)
    except InvalidInput:
        raise
    except Exception as exc:  # a model that cannot take the reference's columns
        text = str(exc).splitlines()[0] if str(exc) else ""
        raise InvalidInput(
            "the model file cannot score the reference's feature columns "
            f"({type(exc).__name__}: {text})"
        ) from None
    claimed = sample["score"].to_numpy(dtype=float)
    gap = np.abs(np.asarray(scores, dtype=float) - claimed)
    gap = np.where(np.isnan(gap), np.inf, gap)
    allowed = TOLERANCE * np.maximum(1.0, np.abs(claimed))
    return Reproduction(
        rows=len(sample),
        differing=int((gap > allowed).sum()),
        max_gap=float(gap.max()) if len(gap) else 0.0,
    )
