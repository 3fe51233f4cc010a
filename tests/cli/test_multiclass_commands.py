"""The CLI on a multiclass model, through a subprocess: register, versions, ingest, labels,
performance and drift, with --json, and refusals in one line with exit code 2."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import Ran, run_cli
from tests.multiclass_cases import MulticlassCase, simulated_case


@pytest.fixture(scope="module")
def case(tmp_path_factory: pytest.TempPathFactory) -> MulticlassCase:
    """Four days of 400 rows each, the inputs shifting, every row labelled."""
    return simulated_case(
        tmp_path_factory.mktemp("simulated"), shift=2.0, concept_drift=False, windows=4
    )


def _register(db: Path, case: MulticlassCase, reference: Path | None = None, *more: str) -> Ran:
    return run_cli(
        "register", "levels", "--reference", reference or case.reference, "--target", "kind",
        "--prediction", "predicted", "--model-file", case.model_file, *more, "--json", db=db,
    )  # fmt: skip


def _one_line_error(ran: Ran) -> str:
    assert ran.code == 2, (ran.code, ran.out, ran.err)
    assert ran.out == "" and "Traceback" not in ran.err
    assert ran.err.count("\n") == 1, ran.err
    return ran.err.strip()


@pytest.fixture(scope="module")
def db(case: MulticlassCase, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store with 'levels' v1 registered, its logs and labels ingested, all by the CLI."""
    path = tmp_path_factory.mktemp("store") / "store.duckdb"
    assert run_cli("init", db=path).code == 0
    ran = _register(path, case, None, "--task", "multiclass", "--proba-prefix", "p_")
    assert ran.code == 0, ran.err
    for command, file in (("ingest", case.logs), ("labels", case.labels)):
        done = run_cli(command, "levels", file, "--json", db=path)
        assert done.code == 0, done.err
    return path


def test_register_reports_a_multiclass_model_and_versions_its_metrics(
    db: Path, case: MulticlassCase
) -> None:
    ran = run_cli("versions", "levels", "--json", db=db)

    assert ran.code == 0, ran.err
    [version] = json.loads(ran.out)
    reference = pd.read_csv(case.reference)
    accuracy = (reference["kind"] == reference["predicted"]).mean()
    assert set(version["metrics"]) == {"accuracy", "macro_f1", "log_loss"}
    assert version["metrics"]["accuracy"] == pytest.approx(accuracy)


def test_performance_json_gives_each_metric_realized_and_estimated_with_its_band(
    db: Path, case: MulticlassCase
) -> None:
    ran = run_cli("performance", "levels", "--period", "D", "--json", db=db)

    assert ran.code == 0, ran.err
    rows = pd.DataFrame(json.loads(ran.out))
    assert rows["window_start"].nunique() == 4 and (rows["n_labeled"] == 400).all()
    metrics = {"accuracy", "macro_f1", "weighted_f1", "log_loss"}
    metrics |= {f"{m}:{c}" for m in ("precision", "recall") for c in ("low", "mid", "high")}
    assert set(rows["metric"]) == metrics
    accuracy = rows[rows["metric"] == "accuracy"]
    logged = case.logs_frame
    days = logged["timestamp"].dt.floor("D")
    realized = (logged["kind"] == logged["predicted"]).groupby(days).mean()
    assert accuracy["realized"].tolist() == pytest.approx(realized.tolist())
    assert (accuracy["estimated_lower"] < accuracy["estimated"]).all()
    assert (accuracy["estimated"] < accuracy["estimated_upper"]).all()


def test_drift_json_checks_the_predicted_class_and_each_class_probability(db: Path) -> None:
    ran = run_cli("drift", "levels", "--period", "D", "--json", db=db)

    assert ran.code == 0, ran.err
    rows = pd.DataFrame(json.loads(ran.out))
    methods = rows.groupby("feature")["method"].agg(set).to_dict()
    assert set(methods) == {"x1", "x2", "predicted", "p_low", "p_mid", "p_high", "prediction"}
    assert methods["predicted"] == {"psi", "jensen_shannon", "chi_square"}  # a categorical
    assert methods["p_low"] == {"ks", "psi", "jensen_shannon", "wasserstein"}  # a number
    # x1 moves by 2 sd over the days: the last day has drifted, in the inputs and the outputs.
    last = rows[rows["window_start"] == rows["window_start"].max()]
    drifted = last.groupby("feature")["drifted"].first()
    assert drifted["x1"] and drifted["predicted"] and drifted["p_low"]
    assert not drifted["x2"]


def test_register_refuses_a_class_without_its_probability_column_in_one_line(
    case: MulticlassCase, tmp_path: Path
) -> None:
    assert run_cli("init", db=tmp_path / "s.duckdb").code == 0
    frame = pd.read_csv(case.reference)
    frame["p_mid"] += frame.pop("p_high")
    frame = frame[(frame["kind"] != "high") & (frame["predicted"] != "high")]
    frame.to_csv(tmp_path / "no_high.csv", index=False)

    ran = _register(tmp_path / "s.duckdb", case, tmp_path / "no_high.csv", "--task", "multiclass")

    assert _one_line_error(ran) == (
        f"modelbridge: error: {case.model_file}: the model has class 'high' but the reference "
        "has no p_high column"
    )


def test_register_refuses_a_probability_prefix_for_another_task_in_one_line(
    case: MulticlassCase, tmp_path: Path
) -> None:
    assert run_cli("init", db=tmp_path / "s.duckdb").code == 0

    ran = _register(tmp_path / "s.duckdb", case, None, "--proba-prefix", "p_")

    assert _one_line_error(ran) == (
        "modelbridge: error: --proba-prefix names the class probabilities; add --task multiclass"
    )


@pytest.mark.parametrize(
    ("command", "what"),
    [
        (("explain", "levels", "--id", "r-00001"), "explanations"),
    ],
)
def test_what_multiclass_models_do_not_have_yet_is_refused_in_one_line(
    db: Path, command: tuple[str, ...], what: str
) -> None:
    ran = run_cli(*command, "--json", db=db)

    assert _one_line_error(ran) == (
        f"modelbridge: error: {what} are not available for multiclass models yet ('levels' has "
        "3 classes); its drift, performance and alerts are"
    )
