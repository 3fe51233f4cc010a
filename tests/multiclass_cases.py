"""Multiclass models for tests: scikit-learn's bundled data sets with real fitted models, and
simulated data with a known shift (written to a temporary folder)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import skops.io as sio
from sklearn import datasets
from sklearn.linear_model import LogisticRegression

from core.ingest import ingest_predictions
from core.monitoring.class_calibration import ClassCalibration
from core.registry import RegistrationSpec, register_version
from core.store import Store

LOADERS = {"iris": datasets.load_iris, "wine": datasets.load_wine, "digits": datasets.load_digits}


@dataclass(frozen=True)
class MulticlassCase:
    """Files of one multiclass model: reference, model file, logs and labels (target 'kind',
    predicted class 'predicted', probabilities 'p_<class>')."""

    reference: Path
    model_file: Path
    logs: Path
    labels: Path
    model: object
    classes: list[str]
    logs_frame: pd.DataFrame  # the logged rows, with their true class in 'kind'


def _frames(model: object, x: pd.DataFrame, y: np.ndarray) -> pd.DataFrame:
    proba = model.predict_proba(x)
    names = [str(c) for c in model.classes_]
    out = x.assign(kind=y, predicted=model.predict(x))
    return out.assign(**{f"p_{c}": proba[:, i] for i, c in enumerate(names)})


def write_case(
    folder: Path,
    *,
    model: object,
    reference: pd.DataFrame,
    logs: pd.DataFrame,
    start: str = "2026-03-01",
    days: int = 6,
    train: pd.DataFrame | None = None,
) -> MulticlassCase:
    """Fit MODEL on TRAIN's features and 'kind' (REFERENCE's without TRAIN), and write its files
    with LOGS as traffic spread evenly over DAYS days."""
    folder.mkdir(parents=True, exist_ok=True)
    features = [c for c in reference.columns if c != "kind"]
    fitted_on = reference if train is None else train
    model.fit(fitted_on[features], fitted_on["kind"])
    _frames(model, reference[features], reference["kind"].to_numpy()).to_csv(
        folder / "reference.csv", index=False
    )
    sio.dump(model, folder / "model.skops")
    n = len(logs)
    scored = _frames(model, logs[features].reset_index(drop=True), logs["kind"].to_numpy())
    scored.insert(0, "request_id", [f"r-{i:05d}" for i in range(n)])
    seconds = np.linspace(0, days * 86400 - 1, n).astype(int)
    scored.insert(1, "timestamp", pd.Timestamp(start, tz="UTC") + pd.to_timedelta(seconds, "s"))
    scored.drop(columns=["kind"]).to_parquet(folder / "logs.parquet", index=False)
    scored[["request_id", "kind"]].to_csv(folder / "labels.csv", index=False)
    return MulticlassCase(
        folder / "reference.csv",
        folder / "model.skops",
        folder / "logs.parquet",
        folder / "labels.csv",
        model,
        [str(c) for c in model.classes_],
        scored,
    )


def bundled_case(folder: Path, *, data: str, model: object, seed: int = 0) -> MulticlassCase:
    """One of scikit-learn's bundled data sets, shuffled: half the reference, half the logs.
    Classes are named as the data set names them (digits keeps its numbers 0-9)."""
    bunch = LOADERS[data]()
    x = pd.DataFrame(bunch.data, columns=[str(c) for c in bunch.feature_names])
    names = np.asarray(bunch.target_names)
    frame = x.assign(kind=names[bunch.target]).sample(frac=1.0, random_state=seed)
    half = len(frame) // 2
    return write_case(folder, model=model, reference=frame.iloc[:half], logs=frame.iloc[half:])


def held_out_case(
    folder: Path, *, data: str, model: object, seed: int = 0, days: int = 6
) -> MulticlassCase:
    """One of scikit-learn's bundled data sets, shuffled into thirds: MODEL is fitted on the
    first, the second is the reference (rows the model has not seen, as a version's validation
    set) and the third the logs."""
    bunch = LOADERS[data]()
    x = pd.DataFrame(bunch.data, columns=[str(c) for c in bunch.feature_names])
    names = np.asarray(bunch.target_names)
    frame = x.assign(kind=names[bunch.target]).sample(frac=1.0, random_state=seed)
    third = len(frame) // 3
    return write_case(
        folder,
        model=model,
        train=frame.iloc[:third],
        reference=frame.iloc[third : 2 * third],
        logs=frame.iloc[2 * third :],
        days=days,
    )


def iris_case(folder: Path) -> MulticlassCase:
    """A logistic-regression iris model (classes setosa, versicolor, virginica)."""
    return bundled_case(folder, data="iris", model=LogisticRegression(max_iter=1000))


def simulated_case(
    folder: Path,
    *,
    shift: float,
    concept_drift: bool,
    windows: int = 20,
    per_window: int = 400,
    seed: int = 7,
) -> MulticlassCase:
    """Three classes from a known multinomial logistic model of two inputs, so a logistic
    regression fitted on the reference gives calibrated probabilities. The logs' inputs move by
    up to SHIFT (covariate shift); with CONCEPT_DRIFT the true classes of the second half of the
    windows follow other coefficients, which the model does not know. One window per day."""
    rng = np.random.default_rng(seed)
    weights = np.array([[1.5, 0.0], [-1.0, 1.2], [-0.5, -1.2]])
    drifted = np.array([[-1.5, 0.0], [1.0, 1.2], [0.5, -1.2]])  # the first class's sign flips
    names = np.array(["low", "mid", "high"])

    def draw(x: np.ndarray, w: np.ndarray) -> np.ndarray:
        logits = x @ w.T
        p = np.exp(logits - logits.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        return names[[rng.choice(3, p=row) for row in p]]

    def frame(x: np.ndarray, kind: np.ndarray) -> pd.DataFrame:
        return pd.DataFrame({"x1": x[:, 0], "x2": x[:, 1], "kind": kind})

    ref_x = rng.normal(0, 1, (4000, 2))
    reference = frame(ref_x, draw(ref_x, weights))
    logs = []
    for t in range(windows):
        x = rng.normal([shift * t / (windows - 1), 0.0], 1, (per_window, 2))
        changed = concept_drift and t >= windows // 2
        logs.append(frame(x, draw(x, drifted if changed else weights)))
    return write_case(
        folder,
        model=LogisticRegression(max_iter=1000),
        reference=reference,
        logs=pd.concat(logs, ignore_index=True),
        days=windows,
    )


def rotated_version(case: MulticlassCase, folder: Path) -> tuple[Path, Path]:
    """Reference and model file of CASE's model refitted on classes moved one along (each true
    class learnt as the next of its sorted classes): a version that decides worse than CASE's."""
    from sklearn.base import clone

    reference = pd.read_csv(case.reference)
    features = [c for c in reference.columns if c not in ("kind", "predicted")]
    features = [c for c in features if not c.startswith("p_")]
    names = sorted(case.classes)
    moved = reference["kind"].astype(str).map(dict(zip(names, names[1:] + names[:1], strict=True)))
    model = clone(case.model).fit(reference[features], moved)
    folder.mkdir(parents=True, exist_ok=True)
    out = _frames(model, reference[features], reference["kind"].to_numpy())
    out.to_csv(folder / "rotated.csv", index=False)
    sio.dump(model, folder / "rotated.skops")
    return folder / "rotated.csv", folder / "rotated.skops"


def calibrated_probabilities(calibration: ClassCalibration, p: np.ndarray) -> np.ndarray:
    """P's rows through CALIBRATION's maps, renormalised, as its SQL reads them."""
    if calibration.top is not None:  # the top probability calibrated, the rest share the rest
        top = p.max(axis=1, keepdims=True)
        right = calibration.top(top[:, 0])[:, None]
        up, down = right / np.maximum(top, 1e-12), (1 - right) / np.maximum(1 - top, 1e-12)
        mapped = np.where(p >= top, p * up, p * down)
    else:
        mapped = np.column_stack(
            [p[:, j] if m is None else m(p[:, j]) for j, m in enumerate(calibration.maps)]
        )
    total = mapped.sum(axis=1, keepdims=True)
    uniform = np.full_like(mapped, 1.0 / mapped.shape[1])  # where every map gives 0
    return np.divide(mapped, total, out=uniform, where=total > 0)


def logged(store: Store, case: MulticlassCase, *, model: str = "m") -> None:
    """CASE's model registered in STORE as MODEL (multiclass), with its traffic ingested."""
    register_version(
        store,
        spec=RegistrationSpec(
            model=model, reference=case.reference, target="kind", prediction="predicted",
            task="multiclass", model_file=case.model_file,
        ),
    )  # fmt: skip
    ingest_predictions(store, model=model, files=[case.logs])
