"""Multivariate drift: PCA reconstruction error of each window against the reference.

Inputs are imputed, one-hot encoded and standardised as fitted on the reference; a PCA that
keeps 65% of the reference variance compresses and restores each row. When the joint
distribution changes, even with unchanged marginals, rows restore worse. The band is the
reference's mean error ± 3 standard errors at the window's sample size, and at least ±2%.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from core.files.sources import quote_ident
from core.monitoring.windows import WindowSpec
from core.registry import features_of
from core.registry.features import Feature
from core.store import Model, ModelVersion, Work, log_tables

if TYPE_CHECKING:
    from sklearn.compose import ColumnTransformer
    from sklearn.decomposition import PCA

SAMPLE_PER_WINDOW = 5000
VARIANCE_KEPT = 0.65
MIN_RELATIVE_CHANGE = 0.02
# The band is the spread of errors on held-out reference rows: two of them at least.
MIN_REFERENCE_ROWS = 4
COLUMNS = ["window_start", "window_end", "n", "value", "lower", "upper", "alert"]


def _pipeline(features: list[Feature]) -> tuple[ColumnTransformer, PCA]:
    from sklearn.compose import ColumnTransformer
    from sklearn.decomposition import PCA
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    numeric = [f.name for f in features if f.kind == "numeric"]
    categorical = [f.name for f in features if f.kind == "categorical"]
    prepare = ColumnTransformer(
        [
            ("num", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), numeric),
            (
                "cat",
                make_pipeline(
                    SimpleImputer(strategy="constant", fill_value="(missing)"),
                    OneHotEncoder(
                        handle_unknown="infrequent_if_exist",
                        min_frequency=0.01,
                        sparse_output=False,
                    ),
                ),
                categorical,
            ),
        ]
    )
    return prepare, PCA(n_components=VARIANCE_KEPT, svd_solver="full", random_state=0)


def _errors(prepare: ColumnTransformer, pca: PCA, frame: pd.DataFrame) -> np.ndarray:
    x = prepare.transform(frame)
    restored = pca.inverse_transform(pca.transform(x))
    return np.sqrt(((x - restored) ** 2).sum(axis=1))


def _select(features: list[Feature]) -> str:
    return ", ".join(f"{f.column} AS {quote_ident(f.name)}" for f in features)


def reconstruction_drift(
    w: Work, *, model: Model, version: ModelVersion, spec: WindowSpec
) -> pd.DataFrame:
    """Per window: mean reconstruction error of a sample, the reference band, and alert."""
    assert model.id is not None
    features = features_of(version)
    if len(features) < 2:
        return pd.DataFrame(columns=COLUMNS)
    ref = w.frame(
        f"SELECT {_select(features)} FROM {log_tables.ref_table(model.id)} WHERE version = ?",
        [version.version],
    )
    if len(ref) < MIN_REFERENCE_ROWS:
        return pd.DataFrame(columns=COLUMNS)
    # Fit on one half of the reference and measure on the other: errors on the rows the PCA
    # was fitted on would be optimistically low and every window would look drifted.
    fit_part, held_out = ref.iloc[::2], ref.iloc[1::2]
    prepare, pca = _pipeline(features)
    pca.fit(prepare.fit_transform(fit_part))
    ref_errors = _errors(prepare, pca, held_out)
    # A few junk rows (an age of 150) must not move a whole window: cap each row's error.
    cap = float(np.quantile(ref_errors, 0.99))
    ref_errors = np.minimum(ref_errors, cap)
    centre, spread = float(ref_errors.mean()), float(ref_errors.std(ddof=1))
    start, end = spec.bounds_sql()
    sample = w.frame(
        f"WITH t AS (SELECT *, {spec.key_sql()} AS __w FROM {log_tables.pred_table(model.id)} "
        "WHERE version = ?), "
        f"b AS (SELECT __w, {start} AS window_start, {end} AS window_end, count(*) AS n "
        "FROM t GROUP BY __w) "
        f"SELECT b.window_start, b.window_end, b.n, t.__w, {_select_prefixed(features)} "
        "FROM t JOIN b USING (__w) "
        f"QUALIFY row_number() OVER (PARTITION BY t.__w ORDER BY hash(t.request_id)) "
        f"<= {SAMPLE_PER_WINDOW}",
        [version.version],
    )
    if sample.empty:
        return pd.DataFrame(columns=COLUMNS)
    sample["error"] = np.minimum(_errors(prepare, pca, sample[[f.name for f in features]]), cap)
    out = (
        sample.groupby("__w")
        .agg(
            window_start=("window_start", "first"),
            window_end=("window_end", "first"),
            n=("n", "first"),
            value=("error", "mean"),
            sampled=("error", "size"),
        )
        .reset_index(drop=True)
    )
    # Sampling noise alone would make the band very narrow on large windows; a change smaller
    # than MIN_RELATIVE_CHANGE of the reference error is not worth anyone's attention.
    margin = np.maximum(3 * spread / np.sqrt(out["sampled"]), MIN_RELATIVE_CHANGE * centre)
    out["lower"], out["upper"] = centre - margin, centre + margin
    out["alert"] = (out["value"] > out["upper"]) | (out["value"] < out["lower"])
    return out.drop(columns=["sampled"])


def _select_prefixed(features: list[Feature]) -> str:
    return ", ".join(f"t.{f.column} AS {quote_ident(f.name)}" for f in features)
