"""`modelbridge explain MODEL --id REQUEST_ID --json`, and `register --feature-metadata`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core.cli import main
from core.registry import get_model, get_version
from core.registry.artifacts import load_model
from core.store import Store
from tests.conftest import ROOT, Ran, run_cli
from tests.explain.test_explainers import (  # noqa: F401  (explained_store: a fixture)
    WORDS,
    _explained_store,
    explained_store,
)
from tests.factories import Case

REQUEST = "req-00003"


@pytest.fixture(scope="module")
def explained(explained_store: Store) -> Ran:  # noqa: F811
    """One real `modelbridge explain ... --json` run, as a pipeline would make it."""
    return run_cli("explain", "credit", "--id", REQUEST, "--json", db=explained_store.path)


def logged(store: Store, request_id: str) -> tuple[pd.DataFrame, float]:
    """The logged case's features and score, read back from the store's own log table."""
    with store.read() as r:
        model = get_model(r, name="credit")
        frame = r.frame(
            f"SELECT * FROM pred_m{model.id} WHERE request_id = ?",
            [request_id],
        )
        version = get_version(r, model=model)
    columns = {f["column"]: f["name"] for f in version.feature_schema["features"]}
    return frame.rename(columns=columns)[list(columns.values())], float(frame["score"].iloc[0])


def in_process(capsys: pytest.CaptureFixture[str], *args: str) -> Ran:
    """Run the CLI in this process (shap is imported once per test session)."""
    code = main(list(args))
    out, err = capsys.readouterr()
    return Ran(code, out, err)


def test_explain_prints_the_explanation_as_json(explained: Ran, explained_store: Store) -> None:  # noqa: F811
    data = explained.json()
    _, score = logged(explained_store, REQUEST)

    assert explained.code == 0, explained.err
    assert {"base_value", "output", "contributions", "reasons", "counterfactual"} <= set(data)
    assert list(data["contributions"]) == ["income", "debt ratio", "segment"]
    assert data["output"] == pytest.approx(score, abs=1e-9)  # the logged score, re-computed
    total = data["base_value"] + sum(data["contributions"].values())
    assert total == pytest.approx(data["output"], abs=1e-6)
    assert data["units"] == "probability"
    assert data["threshold"] == 0.5
    assert data["flagged"] is (score >= 0.5)
    assert data["model_file"] == "skops, allow-listed types only"


def test_explain_json_reasons_are_sentences_about_the_strongest_drivers(explained: Ran) -> None:
    data = explained.json()
    labels = {n: w["label"] for n, w in WORDS["features"].items()}
    drivers = sorted(data["contributions"], key=lambda n: -abs(data["contributions"][n]))

    assert len(data["reasons"]) == 3  # three features, each pushing one way or the other
    assert {r.split(" ")[0] for r in data["reasons"]} == {labels[n].split(" ")[0] for n in drivers}
    assert all(r.endswith(".") and "default risk by" in r for r in data["reasons"])


def test_explain_json_counterfactual_flips_the_decision_when_rescored(
    explained_store: Store,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    with explained_store.read() as r:
        version = get_version(r, model=get_model(r, name="credit"))
    model = load_model(Path(version.artifact_path), expected_sha256=version.artifact_sha256)
    seen = 0
    for i in range(6):
        ran = in_process(
            capsys,
            "explain",
            "credit",
            "--id",
            f"req-{i:05d}",
            "--json",
            "--db",
            str(explained_store.path),
        )
        data = ran.json()
        if data["counterfactual"] is None:
            continue
        seen += 1
        row = pd.DataFrame([data["values"]])
        for change in data["counterfactual"]["changes"]:
            assert change["feature"] in ("income", "debt ratio")  # the actionable ones
            assert row.at[0, change["feature"]] == change["from"]
            row.at[0, change["feature"]] = change["to"]
        after = model.predict_proba(row)[0, 1]
        assert (after >= data["threshold"]) != data["flagged"]
        assert data["counterfactual"]["score"] == pytest.approx(after, abs=1e-12)
        assert data["counterfactual"]["text"].startswith("If ")
    assert seen >= 3


def test_explain_in_log_odds_gives_the_logit_of_the_logged_score(
    explained_store: Store,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    db = str(explained_store.path)
    ran = in_process(
        capsys, "explain", "credit", "--id", REQUEST, "--units", "log_odds", "--json", "--db", db
    )
    data = ran.json()
    _, score = logged(explained_store, REQUEST)

    assert data["output"] == pytest.approx(np.log(score / (1 - score)), abs=1e-9)
    assert data["base_value"] + sum(data["contributions"].values()) == pytest.approx(
        data["output"], abs=1e-6
    )
    assert (data["units"], data["method"]) == ("log_odds", "linear")


def test_explain_without_json_prints_the_score_reasons_and_hint(
    explained_store: Store,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    ran = in_process(
        capsys, "explain", "credit", "--id", REQUEST, "--db", str(explained_store.path)
    )
    _, score = logged(explained_store, REQUEST)

    lines = ran.out.splitlines()
    side = "at or above" if score >= 0.5 else "below"
    assert lines[0] == (
        f"credit v1, request {REQUEST}: score {score * 100:.0f} / 100 ({side} the threshold 50)"
    )
    assert all(line.startswith("  - ") for line in lines[1:4])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("credit", "--id", "no-such-id"),
            "modelbridge: error: no logged prediction with request id 'no-such-id' for credit\n",
        ),
        (
            ("debit", "--id", REQUEST),
            "modelbridge: error: unknown model 'debit' (known models: credit)\n",
        ),
        (
            ("credit", "--id", REQUEST, "--version", "9"),
            "modelbridge: error: model 'credit' has no version 9\n",
        ),
        (
            ("credit", "--id", REQUEST, "--class", "1"),
            "modelbridge: error: 'credit' is a binary model: only a multiclass model has a class "
            "to choose; leave the class out\n",
        ),
    ],
)
def test_explain_of_something_that_does_not_exist_exits_2_with_one_line(
    explained_store: Store,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
    args: tuple[str, ...],
    message: str,
) -> None:
    ran = in_process(capsys, "explain", *args, "--json", "--db", str(explained_store.path))
    assert (ran.code, ran.out, ran.err) == (2, "", message)


def test_explain_of_an_unknown_request_id_exits_2_in_a_real_process(
    explained_store: Store,  # noqa: F811
) -> None:
    ran = run_cli("explain", "credit", "--id", "nope", "--json", db=explained_store.path)
    assert (ran.code, ran.out) == (2, "")
    assert ran.err == "modelbridge: error: no logged prediction with request id 'nope' for credit\n"


def test_register_stores_feature_metadata_from_a_file(
    store: Store, binary_files: Case, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    words = tmp_path / "words.json"
    words.write_text(json.dumps(WORDS))

    ran = in_process(
        capsys,
        "register",
        "credit",
        "--reference",
        str(binary_files.reference),
        "--target",
        "defaulted",
        "--prediction",
        "score",
        "--feature-metadata",
        str(words),
        "--db",
        str(store.path),
    )

    assert ran.code == 0, ran.err
    with store.read() as r:
        meta = get_version(r, model=get_model(r, name="credit")).feature_schema["metadata"]
    assert (meta["outcome"], meta["population"]) == ("default risk", "applicants")
    assert meta["features"]["debt ratio"]["label"] == "Debt-to-income"


def test_register_with_words_for_an_unknown_feature_exits_2_and_registers_nothing(
    store: Store, binary_files: Case, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    words = tmp_path / "words.csv"
    words.write_text("feature,label\nsalary,Salary\n")

    ran = in_process(
        capsys,
        "register",
        "credit",
        "--reference",
        str(binary_files.reference),
        "--target",
        "defaulted",
        "--prediction",
        "score",
        "--feature-metadata",
        str(words),
        "--db",
        str(store.path),
    )

    assert (ran.code, ran.err) == (
        2,
        "modelbridge: error: feature metadata names unknown feature(s): salary\n",
    )
    with store.read() as r:
        assert r.rows("SELECT count(*) FROM model_version")[0][0] == 0


def test_explaining_a_case_with_a_version_that_needs_an_unlogged_feature_exits_2(
    store: Store, binary_files: Case, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    register = ("register", "credit", "--target", "defaulted", "--prediction", "score")
    model = ("--model-file", str(binary_files.model_file), "--db", str(store.path))
    in_process(capsys, *register, "--reference", str(binary_files.reference), *model)
    in_process(capsys, "ingest", "credit", str(binary_files.logs), "--db", str(store.path))
    wider = tmp_path / "wider.csv"
    pd.read_csv(binary_files.reference).assign(tenure=3).to_csv(wider, index=False)
    assert in_process(capsys, *register, "--reference", str(wider), *model).code == 0

    ran = in_process(
        capsys, "explain", "credit", "--id", "req-00001", "--version", "2", "--db", str(store.path)
    )

    assert (ran.code, ran.out) == (2, "")
    assert ran.err == (
        "modelbridge: error: credit v2 needs tenure, which request 'req-00001' was not logged "
        "with; explain it with v1, which scored it\n"
    )


MODEL_LIBRARIES = ("sklearn", "skops", "shap", "joblib")


def _explained_with_libraries(db: Path) -> tuple[dict, list[str]]:
    """`modelbridge explain credit --id REQUEST --json` in a fresh interpreter: its JSON and
    the model libraries it imported."""
    check = (
        "import json, sys\nfrom core.cli import main\n"
        f"code = main(['explain', 'credit', '--id', {REQUEST!r}, '--db', {str(db)!r}, '--json'])\n"
        f"loaded = sorted({{m.split('.')[0] for m in sys.modules}} & {set(MODEL_LIBRARIES)!r})\n"
        "print(json.dumps([code, loaded]))"
    )
    done = subprocess.run(
        [sys.executable, "-c", check], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    *answer, last = done.stdout.strip().splitlines()
    code, loaded = json.loads(last)
    assert code == 0
    return json.loads("\n".join(answer)), loaded


def test_a_second_explain_answers_the_same_without_scikit_learn_or_skops(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    store = Store(_explained_store(tmp_path_factory.mktemp("plain")))

    first, loaded_first = _explained_with_libraries(store.path)
    second, loaded_second = _explained_with_libraries(store.path)

    assert {"sklearn", "skops"} <= set(loaded_first)  # the model file, read once
    assert loaded_second == []  # its plain form, kept beside it, is enough
    assert second == first  # every figure the same
    assert first["model_file"] == "skops, allow-listed types only"
