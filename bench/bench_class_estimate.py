"""Coverage of the multiclass accuracy estimate's band over windows without concept drift.

Each case is registered, logged and labelled through the public path on a temporary store;
scikit-learn's bundled data sets are split in thirds (model fitted on one, reference held out,
logs from the rest) with several shuffles, the simulated case draws its classes from a known
multinomial logistic model. A window counts as covered when its realized accuracy lies within
the estimate's band (about 95% claimed).

    uv run python bench/bench_class_estimate.py [shuffles]
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression

from core.ingest import ingest_labels
from core.monitoring import class_performance
from core.monitoring.windows import WindowSpec
from core.registry import get_model, get_version
from core.store import Store
from tests.multiclass_cases import MulticlassCase, held_out_case, logged, simulated_case

MODELS = {
    "RandomForest": lambda: RandomForestClassifier(n_estimators=30, random_state=0),
    "LogisticRegression": lambda: LogisticRegression(max_iter=5000),
    "HistGradientBoosting": lambda: HistGradientBoostingClassifier(max_iter=50, random_state=0),
}


def windows(case: MulticlassCase, folder: Path, spec: WindowSpec) -> pd.DataFrame:
    """Estimated accuracy with its band and realized accuracy per window of CASE's logs."""
    store = Store(folder / "store.duckdb")
    store.init()
    logged(store, case)
    ingest_labels(store, model="m", files=[case.labels])
    with store.read() as r:
        model = get_model(r, name="m")
        version = get_version(r, model=model, version=1)
        perf = class_performance.performance_by_window(r, model=model, version=version, spec=spec)
        real = class_performance.realized_by_window(r, model=model, version=version, spec=spec)
    found = perf[perf["metric"] == "accuracy"].drop(columns="realized")
    measured = real[real["metric"] == "accuracy"][["window_start", "realized"]]
    return found.merge(measured, on="window_start")


def summary(name: str, found: pd.DataFrame) -> str:
    inside = (found["realized"] >= found["estimated_lower"]) & (
        found["realized"] <= found["estimated_upper"]
    )
    below = (found["realized"] < found["estimated_lower"]).mean()
    error = found["realized"] - found["estimated"]
    half = (found["estimated_upper"] - found["estimated_lower"]) / 2
    return (
        f"{name:34s} windows {len(found):4d} (rows {int(found['n'].median()):4d}) "
        f"covered {inside.mean():.3f} below {below:.3f} "
        f"estimated {found['estimated'].mean():.3f} realized {found['realized'].mean():.3f} "
        f"error {error.mean():+.4f} sd {error.std():.4f} half-width {half.mean():.4f}"
    )  # fmt: skip


def main(shuffles: int) -> None:
    root = Path(tempfile.mkdtemp())
    runs: list[tuple[str, Any, WindowSpec]] = []
    for data, rows in (("iris", 100_000), ("wine", 100_000), ("digits", 100)):
        for name, make in MODELS.items():
            runs.append((f"{data} {name}", (data, make), WindowSpec.parse(chunk_size=rows)))
    for label, made, spec in runs:
        data, make = made
        found = pd.concat(
            windows(held_out_case(root / f"{label}-{s}", data=data, model=make(), seed=s),
                    root / f"{label}-{s}", spec)
            for s in range(shuffles)
        )  # fmt: skip
        full = found["n"] >= (spec.chunk_size or 0) if data == "digits" else found["n"] > 0
        print(summary(label, found[full]), flush=True)
    found = pd.concat(
        windows(simulated_case(root / f"sim-{s}", shift=2.5, concept_drift=False, seed=s),
                root / f"sim-{s}", WindowSpec.parse("D"))
        for s in range(shuffles)
    )  # fmt: skip
    print(summary("simulated LogisticRegression shift", found), flush=True)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10)
