"""The CLI on a multiclass model, through a subprocess: register, versions, ingest, labels,
performance, drift and explain, review, sign-off, promotion and the model card, with --json,
and refusals in one line with exit code 2."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from core import users
from core.auth import Identity
from core.monitoring.policy import update_settings
from core.value import business_case
from tests.conftest import Ran, copy_store, run_cli
from tests.factories import ADMIN
from tests.multiclass_cases import MulticlassCase, rotated_version, simulated_case

OWNER = Identity("olga", "product_owner")
PASSWORDS = {"erin": "erin-pw", "olga": "olga-pw"}


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


def _as(db: Path, user: str, *args: str | Path) -> Ran:
    """`modelbridge ARGS --json --user USER` with USER's password."""
    env = {"MODELBRIDGE_PASSWORD": PASSWORDS[user]}
    return run_cli(*args, "--json", "--user", user, db=db, env=env)


def test_a_multiclass_version_is_reviewed_signed_off_promoted_and_carded_through_the_cli(
    db: Path, case: MulticlassCase, tmp_path: Path
) -> None:
    store = copy_store(db, tmp_path)
    for name, role in (("erin", "ml_engineer"), ("olga", "product_owner")):
        users.add_user(store, username=name, role=role, password=PASSWORDS[name], by=ADMIN)
    matrix = {"value:low:low": 10, "value:mid:mid": 20, "value:high:high": 50,
              "value:high:low": -200, "value:high:mid": -80, "value:low:high": -15}  # fmt: skip
    business_case.save(store, model="levels", changes={**matrix, "volume_per_period": 1000},
                       by=OWNER)  # fmt: skip
    # A busy test machine must not decide approvals through the latency gate.
    update_settings(store, model="levels", changes={"gates.latency_budget_ms": 10_000}, by=OWNER)

    asked = _as(store.path, "erin", "request-review", "levels", "1")
    assert asked.code == 0, asked.err
    found = {g["name"]: g for g in asked.json()["gates"]}
    assert list(found) == [
        "metrics", "reproduction", "compatibility", "kpi", "drift", "latency", "explanations",
        "settings",
    ]  # fmt: skip
    assert found["metrics"]["summary"].startswith("On its evaluation data it decides the right")
    assert found["reproduction"]["numbers"]["classes"] == 3
    assert found["kpi"]["status"] == "pass"
    reference = pd.read_csv(case.reference)
    worth = {(k.split(":")[1], k.split(":")[2]): v for k, v in matrix.items()}
    pairs = zip(reference.kind, reference.predicted, strict=True)
    expected = sum(worth.get(pair, 0) for pair in pairs)
    assert found["kpi"]["numbers"]["reference_figure"]["value_per_decision"] == pytest.approx(
        expected / len(reference)
    )
    gate = run_cli("gate", "levels", "1", "--json", db=store.path)
    assert (gate.code, gate.json()["passed"]) == (0, True)
    signed = _as(store.path, "olga", "approve", "levels", "1", "--comment", "right 3 in 4")
    assert signed.code == 0, signed.err
    assert signed.json()["stage"] == "approved"
    promoted = _as(store.path, "olga", "promote", "levels", "1")
    assert promoted.code == 0, promoted.err
    assert promoted.json() == {"model": "levels", "version": 1, "archived": None}
    card = run_cli("model-card", "levels", "1", "--out", tmp_path / "card.html", "--json",
                   db=store.path)  # fmt: skip
    assert card.code == 0, card.err
    html = Path(card.json()["file"]).read_text()
    assert "<tr><th>Classes</th><td>high, low, mid</td></tr>" in html
    assert "<tr><th>actually high</th><td>50.00</td><td>-200.00</td><td>-80.00</td></tr>" in html

    # A candidate that decides worse than the live version fails its blocking money gate.
    reference_file, model_file = rotated_version(case, tmp_path / "rotated")
    assert _register(store.path, case, reference_file, "--task", "multiclass",
                     "--model-file", model_file).code == 0  # fmt: skip
    worse = _as(store.path, "erin", "request-review", "levels", "2")
    assert worse.code == 0, worse.err
    kpi = next(g for g in worse.json()["gates"] if g["name"] == "kpi")
    assert (kpi["status"], kpi["blocking"]) == ("fail", True)
    assert kpi["numbers"]["candidate"] < kpi["numbers"]["live"]
    assert kpi["summary"].startswith("On the same 1,600 latest decisions with outcomes, v2 ")
    gate = run_cli("gate", "levels", "2", "--json", db=store.path)
    assert (gate.code, gate.json()["passed"]) == (1, False)
    refused = _as(store.path, "olga", "approve", "levels", "2", "--comment", "cheaper?")
    assert _one_line_error(refused).startswith(
        "modelbridge: error: blocking gates failed, so it cannot be approved: "
    )
