"""Label-free MAE and RMSE of a regression model (direct loss estimation, as NannyML does it).

On the version's reference rows with outcomes, two small gradient-boosted models learn the
absolute and the squared error from the inputs and the prediction. A window's estimated MAE is
the mean predicted absolute error of its rows, its RMSE the root of the mean predicted squared
error. Both see inputs and predictions only: they follow a shift of the inputs into regions
where the model errs more or less, never a change in how the outcome depends on the inputs
(concept drift), which only labels show.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from core.files.sources import quote_ident
from core.monitoring.windows import WindowSpec
from core.registry import features_of
from core.registry.features import Feature
from core.store import Model, ModelVersion, Work, log_tables

if TYPE_CHECKING:
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import HistGradientBoostingRegressor

# Fewer reference outcomes than this teach the error models little but their noise.
MIN_REFERENCE_ROWS = 100
# Rows per window the estimate is averaged over: the mean of 5,000 predicted errors is already
# far steadier than the realized metric it stands for.
SAMPLE_PER_WINDOW = 5000
PREDICTION = "__prediction"
COLUMNS = ["w", "mae", "rmse"]


@dataclass(frozen=True)
class ErrorModels:
    """Expected absolute and squared error of a row, learnt from its inputs and prediction."""

    prepare: ColumnTransformer
    absolute: HistGradientBoostingRegressor
    squared: HistGradientBoostingRegressor

    def predict(self, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """Expected absolute and squared error of each row of FRAME (never below zero)."""
        x = self.prepare.transform(frame)
        with threadpool_limits(limits=1):
            return (
                np.maximum(self.absolute.predict(x), 0.0),
                np.maximum(self.squared.predict(x), 0.0),
            )


def _select(features: list[Feature], prefix: str = "") -> str:
    return ", ".join(
        [f"{prefix}score AS {PREDICTION}"]
        + [f"{prefix}{f.column} AS {quote_ident(f.name)}" for f in features]
    )


def _regressor(categorical: int, width: int) -> HistGradientBoostingRegressor:
    from sklearn.ensemble import HistGradientBoostingRegressor

    # Small and early-stopped: an absolute error is mostly noise, and a large model learns it.
    return HistGradientBoostingRegressor(
        learning_rate=0.1,
        max_iter=200,
        max_leaf_nodes=15,
        min_samples_leaf=50,
        early_stopping=True,
        validation_fraction=0.2,
        n_iter_no_change=10,
        categorical_features=[i < categorical for i in range(width)] if categorical else None,
        random_state=0,
    )


# Fitted error models by the reference's content: a version's reference never changes, and the
# fit is seeded, so a page, the alerts and the CLI in one process fit each reference once.
_FITTED: OrderedDict[tuple, ErrorModels | None] = OrderedDict()
_KEEP = 8


def fit_error_models(w: Work, *, model: Model, version: ModelVersion) -> ErrorModels | None:
    """Error models fitted on the version's reference; None with too few reference outcomes."""
    features = features_of(version)
    key = (
        version.data_sha256,
        version.target_column,
        version.prediction_column,
        tuple((f.name, f.kind, f.column) for f in features),
    )
    if version.data_sha256 and key in _FITTED:
        _FITTED.move_to_end(key)
        return _FITTED[key]
    fitted = _fit(w, model, version, features)
    if version.data_sha256:
        _FITTED[key] = fitted
        while len(_FITTED) > _KEEP:
            _FITTED.popitem(last=False)
    return fitted


def _fit(
    w: Work, model: Model, version: ModelVersion, features: list[Feature]
) -> ErrorModels | None:
    from sklearn.compose import ColumnTransformer
    from sklearn.preprocessing import OrdinalEncoder

    assert model.id is not None
    ref = w.frame(
        f"SELECT y, {_select(features)} FROM {log_tables.ref_table(model.id)} "
        "WHERE version = ? AND y IS NOT NULL AND score IS NOT NULL",
        [version.version],
    )
    if len(ref) < MIN_REFERENCE_ROWS:
        return None
    categorical = [f.name for f in features if f.kind == "categorical"]
    prepare = ColumnTransformer(
        [
            (
                "cat",
                # Unseen categories and missing values both become "missing", which the trees
                # route on their own; rare categories share one code (the trees take 255).
                OrdinalEncoder(
                    handle_unknown="use_encoded_value",
                    unknown_value=np.nan,
                    encoded_missing_value=np.nan,
                    max_categories=250,
                ),
                categorical,
            )
        ],
        remainder="passthrough",
    )
    x = prepare.fit_transform(ref.drop(columns=["y"]).astype({c: object for c in categorical}))
    error = ref["y"].to_numpy(float) - ref[PREDICTION].to_numpy(float)
    width = x.shape[1]
    # One thread: on a few cores shared with the dashboard and other jobs, OpenMP's threads wait
    # on each other and fitting 10,000 rows took seconds instead of a tenth of one.
    with threadpool_limits(limits=1):
        return ErrorModels(
            prepare,
            _regressor(len(categorical), width).fit(x, np.abs(error)),
            _regressor(len(categorical), width).fit(x, error**2),
        )


def estimated_errors(
    w: Work, *, model: Model, version: ModelVersion, spec: WindowSpec, errors: ErrorModels
) -> pd.DataFrame:
    """Per window key `w`: estimated MAE and RMSE from the window's inputs and predictions."""
    assert model.id is not None
    features = features_of(version)
    categorical = [f.name for f in features if f.kind == "categorical"]
    rows = w.frame(
        f"SELECT __w AS w, {_select(features, 't.')} FROM "
        f"(SELECT *, {spec.key_sql()} AS __w FROM {log_tables.pred_table(model.id)} "
        "WHERE version = ? AND score IS NOT NULL) t "
        "QUALIFY row_number() OVER (PARTITION BY __w ORDER BY hash(t.request_id)) "
        f"<= {SAMPLE_PER_WINDOW}",
        [version.version],
    )
    if rows.empty:
        return pd.DataFrame(columns=COLUMNS)
    absolute, squared = errors.predict(
        rows.drop(columns=["w"]).astype({c: object for c in categorical})
    )
    per = (
        rows[["w"]]
        .assign(mae=absolute, mse=squared)
        .groupby("w", as_index=False)[["mae", "mse"]]
        .mean()
    )
    return per.assign(rmse=np.sqrt(per["mse"]))[COLUMNS]
