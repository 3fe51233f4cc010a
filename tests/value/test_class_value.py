"""Value per decision of a multiclass model from its k x k value matrix: realized on labelled
decisions, estimated from the probabilities with a band that holds under covariate shift."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from core.auth import Identity
from core.errors import InvalidInput
from core.monitoring.windows import WindowSpec
from core.registry import get_model, get_version
from core.store import Store
from core.value import business_case, class_value
from tests.conftest import run_cli
from tests.monitoring.test_class_performance import _monitored
from tests.multiclass_cases import MulticlassCase, calibrated_probabilities, simulated_case

OWNER = Identity("olga", "product_owner")
NAMES = ["low", "mid", "high"]
# What deciding "predicted" is worth when "actual" holds: right calls gain, a missed high costs.
MATRIX = {
    ("low", "low"): 10.0, ("mid", "mid"): 20.0, ("high", "high"): 50.0,
    ("high", "low"): -200.0, ("high", "mid"): -80.0, ("low", "high"): -15.0,
}  # fmt: skip


def _priced(store: Store) -> None:
    changes = {business_case.cell_key(a, p): v for (a, p), v in MATRIX.items()}
    business_case.save(store, model="m", changes=changes, by=OWNER)


def _worth(actual: pd.Series, predicted: pd.Series) -> np.ndarray:
    return np.array([MATRIX.get((a, p), 0.0) for a, p in zip(actual, predicted, strict=True)])


def _calibration(w: Any, *, model: Any, version: Any) -> Any:
    from core.monitoring.class_calibration import fit_class_calibration
    from core.registry.classes import class_outputs

    outputs = class_outputs(version)
    assert outputs is not None
    return fit_class_calibration(w, model=model, version=version, outputs=outputs)


def _read(store: Store, query: Any, **more: object) -> Any:
    with store.read() as r:
        model = get_model(r, name="m")
        version = get_version(r, model=model, version=1)
        return query(r, model=model, version=version, **more)


@pytest.fixture
def shifted(store: Store, tmp_path: Path) -> MulticlassCase:
    case = simulated_case(tmp_path, shift=2.5, concept_drift=False)
    _monitored(store, case)
    _priced(store)
    return case


def test_realized_and_estimated_value_per_decision_follow_the_matrix(
    store: Store, shifted: MulticlassCase
) -> None:
    logged = shifted.logs_frame
    calibration = _read(store, _calibration)
    order = list(calibration.classes)
    proba = calibrated_probabilities(calibration, logged[[f"p_{c}" for c in order]].to_numpy())
    proba = proba[:, [order.index(c) for c in NAMES]]
    per_class = np.array([[MATRIX.get((a, p), 0.0) for p in NAMES] for a in NAMES])
    expected_rows = (proba * per_class[:, [NAMES.index(p) for p in logged["predicted"]]].T).sum(1)

    overall = _read(store, class_value.overall)
    reference = _read(store, class_value.on_reference)

    ref = pd.read_csv(shifted.reference)
    assert overall.n == overall.n_labeled == len(logged)
    assert overall.realized == pytest.approx(_worth(logged.kind, logged.predicted).mean())
    assert overall.estimated == pytest.approx(expected_rows.mean())
    assert reference.realized == pytest.approx(_worth(ref.kind, ref.predicted).mean())


def test_realized_value_lies_within_the_estimates_band_under_covariate_shift(
    store: Store, shifted: MulticlassCase
) -> None:
    windows = _read(store, class_value.by_window, spec=WindowSpec.parse("D"))

    assert len(windows) == 20
    inside = windows["realized_value_per_decision"].between(
        windows["estimated_lower"],
        windows["estimated_upper"],
    )
    assert inside.mean() >= 0.9
    measured = windows["n_labeled"] >= class_value.MIN_OUTCOMES
    assert measured.any() and (windows["measured"] == measured).all()
    best = windows["realized_value_per_decision"].where(
        measured, windows["estimated_value_per_decision"]
    )
    np.testing.assert_allclose(windows["value_in_window"], best * windows["n"])


def test_the_kpi_command_gives_the_matrix_and_the_same_figures(
    store: Store, shifted: MulticlassCase
) -> None:
    overall = _read(store, class_value.overall)

    ran = run_cli("kpi", "m", "--period", "D", "--json", db=store.path)

    assert ran.code == 0, ran.err
    data = json.loads(ran.out)
    assert data["value_matrix"]["high"]["low"] == -200.0
    assert data["value_matrix"]["mid"]["low"] == 0.0
    assert data["overall"]["realized"] == pytest.approx(overall.realized)
    assert data["overall"]["estimated"] == pytest.approx(overall.estimated)
    assert len(data["windows"]) == 20


@pytest.mark.parametrize(
    ("key", "message"),
    [
        (
            "value:unicorn:low",
            "value:unicorn:low is no cell of m's value matrix; name two of its classes (high, "
            "low, mid) as in value:high:mid",
        ),
        (
            "value_tp",
            "value_tp applies to binary or regression models; m is multiclass: say what each "
            "decision is worth with value:<actual>:<predicted>",
        ),
    ],
)
def test_a_value_matrix_key_that_names_no_cell_is_refused(
    store: Store, tmp_path: Path, key: str, message: str
) -> None:
    _monitored(store, simulated_case(tmp_path, shift=0.0, concept_drift=False, windows=2))

    with pytest.raises(InvalidInput) as refused:
        business_case.save(store, model="m", changes={key: 1.0}, by=OWNER)

    assert str(refused.value) == message
