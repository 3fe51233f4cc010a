"""Every `modelbridge` command through a subprocess, as a pipeline calls it."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pandas as pd
import pytest
from sqlmodel import select

from core import users
from core.registry import RegistrationSpec, get_model, get_version, list_versions, register_version
from core.store import SCHEMA_VERSION, Store, User, log_tables
from tests.conftest import ROOT, Ran, run_cli
from tests.factories import FEATURES, Case, signs_in

CREDIT = ("--target", "defaulted", "--prediction", "score")


def _one_line_error(ran: Ran, code: int = 2) -> str:
    """The single stderr line of a refused command (no traceback, nothing on stdout)."""
    assert ran.code == code, (ran.code, ran.out, ran.err)
    assert "Traceback" not in ran.err
    assert ran.out == ""
    assert ran.err.endswith("\n") and ran.err.count("\n") == 1, ran.err
    return ran.err.strip()


def _predictions(store: Store) -> int:
    with store.read() as r:
        table = log_tables.pred_table(get_model(r, name="credit").id)
        return r.rows(f"SELECT count(*) FROM {table}")[0][0]


def _halves(case: Case, folder: Path) -> list[Path]:
    paths = [folder / "first.parquet", folder / "second.parquet"]
    case.frame.iloc[:200].to_parquet(paths[0], index=False)
    case.frame.iloc[200:].to_parquet(paths[1], index=False)
    return paths


# --- init -------------------------------------------------------------------------------------


def test_init_creates_a_store_and_reports_it_as_json(tmp_path: Path) -> None:
    db = tmp_path / "new" / "store.duckdb"

    ran = run_cli("init", "--json", db=db)

    assert ran.code == 0, ran.err
    assert ran.json() == {"db": str(db), "created": True}
    with Store(db).read() as r:
        stamp = r.rows("SELECT value FROM store_meta WHERE key = 'schema_version'")
    assert stamp == [(str(SCHEMA_VERSION),)]


def test_init_on_an_existing_store_is_a_no_op(credit_store: Store) -> None:
    ran = run_cli("init", db=credit_store.path)

    assert (ran.code, ran.out, ran.err) == (0, f"Already exists: {credit_store.path}\n", "")
    with credit_store.read() as r:
        assert [v.version for v in list_versions(r, model=get_model(r, name="credit"))] == [1]


# --- register and versions ------------------------------------------------------------------


def test_register_reports_the_new_version_as_json(store: Store, binary_files: Case) -> None:
    ran = run_cli(
        "register", "credit", "--reference", binary_files.reference, *CREDIT,
        "--model-file", binary_files.model_file, "--git-sha", "deadbeef",
        "--created-by", "alice", "--description", "first cut", "--json",
        db=store.path,
    )  # fmt: skip

    assert ran.code == 0, ran.err
    assert ran.err == ""
    with store.read() as r:
        version = get_version(r, model=get_model(r, name="credit"))
    assert ran.json() == {
        "model": "credit",
        "version": 1,
        "task": "binary",
        "features": FEATURES,
        "reference_rows": 1500,
        "metrics": version.metrics,
        "warnings": [],
    }
    assert (version.git_sha, version.created_by, version.description) == (
        "deadbeef",
        "alice",
        "first cut",
    )
    assert version.artifact_format == "skops"


def test_register_says_what_it_registered(credit_store: Store, binary_files: Case) -> None:
    ran = run_cli("register", "credit", "--reference", binary_files.reference, *CREDIT,
                  db=credit_store.path)  # fmt: skip

    assert (ran.code, ran.err) == (0, "")
    assert ran.out == (
        "credit v2 registered: a binary model, 1,500 reference rows, 3 features (income, "
        "debt ratio, segment)\n"
    )


def test_versions_lists_each_version_with_stage_and_key_metrics_as_json(
    credit_store: Store, binary_files: Case
) -> None:
    register_version(credit_store, spec=RegistrationSpec(
        model="credit", reference=binary_files.reference, target="defaulted", prediction="score",
        created_by="bob", git_sha="f00d",
    ))  # fmt: skip
    with credit_store.read() as r:
        stored = {v.version: v for v in list_versions(r, model=get_model(r, name="credit"))}

    ran = run_cli("versions", "credit", "--json", db=credit_store.path)

    assert ran.code == 0, ran.err
    assert ran.json() == [
        {
            "version": n,
            "stage": "registered",
            "created_by": stored[n].created_by,
            "created_at": stored[n].created_at.isoformat(),
            "git_sha": stored[n].git_sha,
            "metrics": {k: stored[n].metrics[k] for k in ("roc_auc", "f1", "brier")},
        }
        for n in (2, 1)
    ]
    assert [stored[n].created_by for n in (2, 1)] == ["bob", "ci"]


def test_versions_prints_a_table_for_people(credit_store: Store) -> None:
    with credit_store.read() as r:
        version = get_version(r, model=get_model(r, name="credit"))

    ran = run_cli("versions", "credit", db=credit_store.path)

    assert ran.code == 0, ran.err
    header, row = ran.out.splitlines()
    assert header.split() == ["version", "stage", "created_by", "created_at", "roc_auc", "f1",
                              "brier"]  # fmt: skip
    assert row.split() == [
        "1",
        "registered",
        "ci",
        version.created_at.isoformat()[:19],
        *(f"{version.metrics[k]:.4f}" for k in ("roc_auc", "f1", "brier")),
    ]


# --- ingest and labels ----------------------------------------------------------------------


def test_ingest_reports_the_batch_as_json(credit_store: Store, binary_files: Case) -> None:
    ran = run_cli("ingest", "credit", binary_files.logs, "--json", db=credit_store.path)

    assert ran.code == 0, ran.err
    batch = ran.json()
    assert re.fullmatch(r"b-\d{14}-[0-9a-f]{8}", batch.pop("batch_id"))
    assert batch.pop("flags").keys() <= {"out_of_range:debt ratio"}
    assert batch == {
        "source": str(binary_files.logs),
        "rows_read": 400,
        "rows_ingested": 400,
        "rows_quarantined": 0,
        "reasons": {},
        "extra_columns": [],
        "resolved_from_quarantine": 0,
        "duplicate_of": None,
        "error": None,
        "warnings": [],
    }
    assert _predictions(credit_store) == 400


def test_ingest_prints_one_summary_line_per_file(
    credit_store: Store, binary_files: Case, tmp_path: Path
) -> None:
    first, second = _halves(binary_files, tmp_path)

    ran = run_cli("ingest", "credit", first, second, db=credit_store.path)

    assert (ran.code, ran.err) == (0, "")
    lines = ran.out.splitlines()
    assert len(lines) == 2
    for line, path in zip(lines, (first, second), strict=True):
        assert re.fullmatch(
            rf"{re.escape(str(path))}: 200 read, 200 ingested, 0 quarantined \[batch b-[\w-]+\]",
            line,
        )
    assert _predictions(credit_store) == 400


def test_ingesting_an_unreadable_file_exits_3_and_keeps_the_good_files(
    credit_store: Store, binary_files: Case, tmp_path: Path
) -> None:
    good, _ = _halves(binary_files, tmp_path)
    broken = tmp_path / "broken.parquet"
    broken.write_bytes(b"PAR1 this is not really parquet")

    ran = run_cli("ingest", "credit", good, broken, db=credit_store.path)

    assert ran.code == 3
    assert "Traceback" not in ran.err
    assert ran.err.count("\n") == 1
    assert ran.err.startswith(f"modelbridge: error: {broken}: cannot be read as PARQUET")
    assert ran.out.startswith(f"{good}: 200 read, 200 ingested")
    assert _predictions(credit_store) == 200


def test_ingesting_another_models_file_exits_3_with_the_reason_in_json(
    credit_store: Store, binary_files: Case
) -> None:
    ran = run_cli("ingest", "credit", binary_files.labels, "--json", db=credit_store.path)

    assert ran.code == 3
    result = ran.json()
    assert result["batch_id"] is None
    assert result["rows_read"] == 0
    assert "missing required column(s)" in result["error"]
    assert _predictions(credit_store) == 0


def test_labels_reports_the_batch_as_json(credit_store: Store, binary_files: Case) -> None:
    from core.ingest import ingest_predictions

    ingest_predictions(credit_store, model="credit", files=[binary_files.logs])

    ran = run_cli("labels", "credit", binary_files.labels, "--json", db=credit_store.path)

    assert ran.code == 0, ran.err
    batch = ran.json()
    assert (batch["rows_read"], batch["rows_ingested"], batch["rows_quarantined"]) == (200, 200, 0)
    sent = pd.read_csv(binary_files.labels)
    with credit_store.read() as r:
        stored = r.rows("SELECT count(*), sum(y) FROM label")
    assert stored == [(200, float(sent["defaulted"].sum()))]


# --- users ----------------------------------------------------------------------------------


def test_user_add_takes_the_password_from_the_environment(store: Store) -> None:
    users.first_admin(store, username="root", password="root-pw")

    ran = run_cli(
        "user", "add", "alice", "--role", "ml_engineer", "--user", "root", "--json",
        db=store.path, env={"MODELBRIDGE_PASSWORD": "root-pw",
                            "MODELBRIDGE_NEW_PASSWORD": "s3cret-pw"}, stdin="",
    )  # fmt: skip

    assert ran.code == 0, ran.err
    assert ran.json() == {"username": "alice", "role": "ml_engineer"}
    identity = signs_in(store, "alice", "s3cret-pw")
    assert (identity.username, identity.role) == ("alice", "ml_engineer")
    assert signs_in(store, "alice", "wrong") is None
    with store.read() as r:
        stored = r.session.exec(select(User).where(User.username == "alice")).one()
    assert stored.password_hash.startswith("$argon2id$")
    assert "s3cret-pw" not in stored.password_hash


def test_user_add_without_a_password_or_terminal_exits_2(store: Store) -> None:
    users.first_admin(store, username="root", password="root-pw")

    ran = run_cli(
        "user", "add", "alice", "--role", "admin", "--user", "root",
        db=store.path, env={"MODELBRIDGE_PASSWORD": "root-pw", "MODELBRIDGE_NEW_PASSWORD": ""},
        stdin="",
    )  # fmt: skip

    assert _one_line_error(ran) == (
        "modelbridge: error: no password: set MODELBRIDGE_NEW_PASSWORD or run in a terminal"
    )
    with store.read() as r:
        assert [u.username for u in r.session.exec(select(User)).all()] == ["root"]


# --- bad usage ------------------------------------------------------------------------------


def test_an_unknown_model_is_named_with_the_known_ones(credit_store: Store) -> None:
    ran = run_cli("versions", "fraud", db=credit_store.path)

    assert _one_line_error(ran) == (
        "modelbridge: error: unknown model 'fraud' (known models: credit)"
    )


def test_registering_with_a_missing_column_names_it(store: Store, binary_files: Case) -> None:
    ran = run_cli("register", "credit", "--reference", binary_files.reference,
                  "--target", "default_flag", "--prediction", "score", db=store.path)  # fmt: skip

    line = _one_line_error(ran)
    assert "no column(s) default_flag" in line
    assert "its columns are income, debt ratio, segment, defaulted, score" in line


def test_registering_an_unreadable_reference_exits_2(store: Store, tmp_path: Path) -> None:
    broken = tmp_path / "reference.parquet"
    broken.write_bytes(b"\x00\x01 not a parquet file")

    ran = run_cli("register", "credit", "--reference", broken, *CREDIT, db=store.path)

    assert _one_line_error(ran).startswith(
        f"modelbridge: error: {broken}: cannot be read as PARQUET"
    )


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("notamodel.joblib", b"\x80\x04\x95junk that is no pickle",
         "pickle/joblib files can run any code when loaded, and this store refuses them"),
        ("notamodel.skops", b"PK\x03\x04 not a zip", "not a readable skops file"),
    ],
    ids=["joblib", "skops"],
)  # fmt: skip
def test_registering_a_file_that_is_not_a_model_exits_2_naming_the_users_file(
    store: Store, binary_files: Case, tmp_path: Path, name: str, content: bytes, expected: str
) -> None:
    # A tester got a traceback ending in "UnpicklingError: Memo value not found", and for
    # skops an error naming the store's copy (fdf350e2....skops) instead of the file given.
    junk = tmp_path / name
    junk.write_bytes(content)

    ran = run_cli("register", "credit", "--reference", binary_files.reference, *CREDIT,
                  "--model-file", junk, db=store.path)  # fmt: skip

    line = _one_line_error(ran)
    assert line.startswith(f"modelbridge: error: {junk}: ")
    assert expected in line


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("frobnicate",), "argument command: invalid choice: 'frobnicate'"),
        (("versions", "credit", "--colour", "blue"), "unrecognized arguments: --colour blue"),
    ],
    ids=["unknown-subcommand", "unknown-option"],
)
def test_bad_usage_exits_2_with_one_line(args: tuple[str, ...], expected: str) -> None:
    line = _one_line_error(run_cli(*args))

    assert line.startswith("modelbridge: error: ")
    assert expected in line
    assert line.endswith("(see modelbridge --help)")


def test_a_command_on_a_missing_store_says_how_to_create_one(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.duckdb"

    line = _one_line_error(run_cli("versions", "credit", db=missing))

    assert line.startswith(f"modelbridge: error: No ModelBridge store at {missing}")
    assert "modelbridge init" in line
    assert not missing.exists()


@pytest.mark.parametrize(
    "command",
    ["init", "versions", "register", "ingest", "labels", "user", "demo"],
)
def test_every_command_refuses_a_db_that_is_not_a_duckdb_store_and_leaves_it_untouched(
    tmp_path: Path, binary_files: Case, command: str
) -> None:
    csv = tmp_path / "predictions.csv"
    csv.write_bytes(binary_files.logs.read_bytes()[:2000])
    before = (csv.read_bytes(), csv.stat().st_mtime_ns)
    args = {
        "init": ("init",),
        "versions": ("versions", "credit"),
        "register": ("register", "credit", "--reference", binary_files.reference, *CREDIT),
        "ingest": ("ingest", "credit", binary_files.logs),
        "labels": ("labels", "credit", binary_files.labels),
        "user": ("user", "add", "alice", "--role", "ml_engineer", "--user", "root"),
        "demo": ("demo", "--days", "14", "--per-day", "10"),
    }[command]

    ran = run_cli(*args, db=csv, env={"MODELBRIDGE_PASSWORD": "s3cret-pw"}, stdin="")

    assert _one_line_error(ran) == (
        f"modelbridge: error: cannot open {csv} as a ModelBridge store: it is not a DuckDB "
        "database file (left as it is); point --db / MODELBRIDGE_DB at a store, or create one "
        "at a new path with `modelbridge init`"
    )
    assert (csv.read_bytes(), csv.stat().st_mtime_ns) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["predictions.csv"]


def test_a_folder_given_as_the_db_is_refused_with_one_line(tmp_path: Path) -> None:
    for args in (("init",), ("versions", "credit")):
        line = _one_line_error(run_cli(*args, db=tmp_path))

        assert line == (
            f"modelbridge: error: cannot open {tmp_path} as a ModelBridge store: it is a folder; "
            "point --db / MODELBRIDGE_DB at a store file"
        )
    assert list(tmp_path.iterdir()) == []


def test_init_turns_an_empty_file_into_a_store_and_other_commands_say_to_init_it(
    tmp_path: Path,
) -> None:
    db = tmp_path / "store.duckdb"
    db.touch()

    line = _one_line_error(run_cli("versions", "credit", db=db))
    ran = run_cli("init", "--json", db=db)

    assert line == (
        f"modelbridge: error: cannot open {db} as a ModelBridge store: it is an empty file; "
        "create the store there with `modelbridge init`"
    )
    assert ran.code == 0, ran.err
    assert ran.json() == {"db": str(db), "created": True}
    assert db.read_bytes()[8:12] == b"DUCK"


# --- demo -----------------------------------------------------------------------------------


@pytest.mark.skipif(
    not (ROOT / "data" / "build_demo.py").exists(), reason="the demo builder is not there yet"
)
def test_demo_builds_a_store_with_a_champion_a_challenger_and_the_role_users(
    tmp_path: Path,
) -> None:
    db = tmp_path / "demo.duckdb"

    ran = run_cli("demo", "--days", "14", "--per-day", "40", "--json", db=db)

    assert ran.code == 0, ran.err
    summary = ran.json()
    assert summary["model"] == "credit-default"
    assert summary["models"] == ["credit-default", "ticket-triage"]  # binary and multiclass
    assert summary["users"] == ["manager", "expert", "owner", "engineer", "admin"]
    store = Store(db)
    logged = 0
    with store.read() as r:
        for name in summary["models"]:
            model = get_model(r, name=name)
            stages = {v.version: v.stage for v in list_versions(r, model=model)}
            assert stages == {1: "production", 2: "in_review"}  # the challenger waits
            count = r.rows(f"SELECT count(*) FROM {log_tables.pred_table(model.id)}")[0][0]
            assert count > 0
            logged += count
    assert summary["predictions"] == logged
    roles = {"manager": "manager", "expert": "domain_expert", "owner": "product_owner",
             "engineer": "ml_engineer", "admin": "admin"}  # fmt: skip
    for username, role in roles.items():
        identity = signs_in(store, username, "demo")
        assert (identity.username, identity.role) == (username, role)


def test_demo_refuses_a_store_with_users_and_leaves_their_passwords_alone(tmp_path: Path) -> None:
    db = tmp_path / "team.duckdb"
    Store(db).init()
    users.first_admin(Store(db), username="admin", password="a strong passphrase")

    ran = run_cli("demo", "--days", "14", "--per-day", "40", db=db)

    assert ran.code == 2
    assert ran.err.strip() == (
        f"modelbridge: error: {db} already holds users; the demo builds only a new store: "
        "pass another --db "
        "for the demo"
    )
    assert signs_in(Store(db), "admin", "demo") is None
    assert signs_in(Store(db), "admin", "a strong passphrase") is not None


def test_make_run_builds_no_demo_at_a_path_other_than_the_demos(tmp_path: Path) -> None:
    typo = tmp_path / "stroe.duckdb"

    ran = subprocess.run(
        ["make", "--no-print-directory", "store", f"MODELBRIDGE_DB={typo}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )

    assert ran.returncode == 2
    assert f"No store at {typo}: check the path" in ran.stdout
    assert not typo.exists()
