"""The CLI on a multiclass model, through a subprocess: register, versions, ingest, labels,
performance, drift and explain, with --json, and refusals in one line with exit code 2."""

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


def test_explain_json_gives_every_class_probability_and_reasons_for_the_predicted_class(
    db: Path, case: MulticlassCase
) -> None:
    row = case.logs_frame.iloc[1]

    ran = run_cli("explain", "levels", "--id", "r-00001", "--json", db=db)

    assert ran.code == 0, ran.err
    data = json.loads(ran.out)
    assert data["probabilities"] == pytest.approx({c: row[f"p_{c}"] for c in case.classes})
    assert data["predicted_class"] == data["class"] == row["predicted"]
    assert data["output"] == pytest.approx(row[f"p_{row['predicted']}"], abs=1e-12)
    total = data["base_value"] + sum(data["contributions"].values())
    assert total == pytest.approx(data["output"], abs=1e-9)
    assert list(data["contributions"]) == ["x1", "x2"]
    assert data["sampling"]["exact"]  # two inputs: every coalition is scored
    assert all(f"the probability of {row['predicted']} by" in r for r in data["reasons"])


def test_explain_with_class_gives_the_reasons_for_that_class(
    db: Path, case: MulticlassCase
) -> None:
    row = case.logs_frame.iloc[1]
    other = next(c for c in case.classes if c != row["predicted"])

    # in log-odds units the head still gives the class's probability
    ran = run_cli(
        "explain", "levels", "--id", "r-00001", "--class", other, "--units", "log_odds", db=db
    )

    assert ran.code == 0, ran.err
    head, *reasons = ran.out.splitlines()
    shares = ", ".join(f"{c} {row[f'p_{c}']:.0%}" for c in case.classes)
    assert head == (
        f"levels v1, request r-00001: predicted {row['predicted']} ({shares}); reasons for the "
        f"probability of {other} ({row[f'p_{other}']:.0%})"
    )
    assert any(f"the probability of {other} by" in line for line in reasons)


def test_explain_refuses_a_class_the_model_does_not_have_in_one_line(db: Path) -> None:
    ran = run_cli("explain", "levels", "--id", "r-00001", "--class", "extreme", "--json", db=db)

    assert _one_line_error(ran) == (
        "modelbridge: error: 'levels' has no class 'extreme'; its classes are high, low, mid"
    )
