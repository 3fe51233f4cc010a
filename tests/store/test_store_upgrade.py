"""Schema versions: an older store is upgraded on open, a newer one refused with what to do; and
the `register --timestamp/--id/--ignore` and `ingest --version N` options."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from core import audit, users, workflow
from core.auth import Identity
from core.cli import main
from core.ingest import ingest_labels, ingest_predictions
from core.monitoring.policy import update_settings
from core.registry import RegistrationSpec, get_model, get_version, register_version
from core.store import SCHEMA_VERSION, Store, log_tables
from core.store import schema as store_module
from core.value import business_case
from tests.conftest import Ran, copy_store
from tests.factories import ADMIN, FEATURES, Case, drop_column

CREDIT = ("--target", "defaulted", "--prediction", "score")
# What each schema step added (core/store/schema.py MIGRATIONS): tables, with their id sequences.
ADDED_IN = {
    2: (["alert", "webhook_outbox"], ["alert_id_seq"]),
    3: (["business_case_revision"], ["business_case_revision_id_seq"]),
    4: (
        ["review", "sign_off", "promotion", "production_version"],
        ["review_id_seq", "sign_off_id_seq", "promotion_id_seq"],
    ),
    5: ([], []),
    6: (["log_file"], []),
    7: (["day_stale", "day_numeric", "day_category", "day_score"], []),
    8: ([], []),
    9: (
        [
            "day_decision",
            "day_curve",
            "day_error",
            "day_traffic",
            "day_latency",
            "day_traffic_score",
            "day_quality",
            "day_batch",
        ],
        [],
    ),
    10: (["day_class", "day_class_cell", "day_class_moment"], []),
}
# What each schema step added to existing tables: (table, column).
COLUMNS_ADDED_IN = {5: [("model_version", "positive_class")], 8: [("model", "classes")]}


def modelbridge(capsys: pytest.CaptureFixture[str], *args: str | Path) -> Ran:
    """`modelbridge ARGS` in this process, as `python -m core` runs it."""
    try:
        code = main([str(a) for a in args])
    except SystemExit as exc:  # argparse's own exit
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return Ran(code, out, err)


def _one_line_error(ran: Ran, code: int = 2) -> str:
    assert ran.code == code, (ran.code, ran.out, ran.err)
    assert ran.out == "" and "Traceback" not in ran.err
    assert ran.err.count("\n") == 1, ran.err
    return ran.err.strip()


def _stamp(store: Store) -> str:
    with store.read() as r:
        return r.rows("SELECT value FROM store_meta WHERE key = 'schema_version'")[0][0]


def _tables(store: Store) -> list[str]:
    with store.read() as r:
        return [t for (t,) in r.rows("SELECT table_name FROM duckdb_tables() ORDER BY 1")]


def _contents(store: Store) -> dict[str, int]:
    """Row counts of the tables every schema version has."""
    with store.read() as r:
        model = get_model(r, name="credit")
        tables = [
            "model", "model_version", "app_user", "audit_event", "batch", "label", "quarantine",
            log_tables.pred_table(model.id), log_tables.ref_table(model.id),
        ]  # fmt: skip
        return {t: r.rows(f"SELECT count(*) FROM {t}")[0][0] for t in tables}


def _make_older(store: Store, version: int) -> list[str]:
    """Turn STORE into one written by schema VERSION: drop what later steps added, restamp."""
    dropped = []
    with store.write() as w:
        for step in range(version + 1, SCHEMA_VERSION + 1):
            tables, sequences = ADDED_IN[step]
            for table in tables:
                w.sql(f"DROP TABLE {table}")
            for sequence in sequences:
                w.sql(f"DROP SEQUENCE {sequence}")
            dropped += tables
            for table, column in COLUMNS_ADDED_IN.get(step, []):
                drop_column(w, table, column)
        w.sql("UPDATE store_meta SET value = ? WHERE key = 'schema_version'", [str(version)])
    return dropped


@pytest.fixture(scope="module")
def busy_template(tmp_path_factory: pytest.TempPathFactory, binary_files: Case) -> Path:
    """'credit' v1 with its logs and labels, and a user: data an upgrade must keep."""
    store = Store(tmp_path_factory.mktemp("upgrade") / "store.duckdb", lock_wait_seconds=30)
    store.init()
    register_version(store, spec=RegistrationSpec(
        model="credit", reference=binary_files.reference, target="defaulted", prediction="score",
        model_file=binary_files.model_file, created_by="erin",
    ))  # fmt: skip
    ingest_predictions(store, model="credit", files=[binary_files.logs])
    ingest_labels(store, model="credit", files=[binary_files.labels])
    users.add_user(store, username="olga", role="product_owner", password="olga-pw", by=ADMIN)
    return store.path


@pytest.fixture
def busy_store(busy_template: Path, tmp_path: Path) -> Store:
    """A private copy of the template store."""
    return copy_store(busy_template, tmp_path, lock_wait_seconds=30)


# --- init and upgrades ------------------------------------------------------------------------


def test_init_twice_creates_the_store_once_and_the_second_run_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "new.duckdb"

    first = modelbridge(capsys, "init", "--json", "--db", db)
    store = Store(db)
    tables, revision = _tables(store), store.revision()
    second = modelbridge(capsys, "init", "--json", "--db", db)
    third = modelbridge(capsys, "init", "--db", db)

    assert (first.code, first.json()) == (0, {"db": str(db), "created": True})
    assert (second.code, second.json()) == (0, {"db": str(db), "created": False})
    assert (third.code, third.out, third.err) == (0, f"Already exists: {db}\n", "")
    assert store.revision() == revision  # not even a rewrite of the same stamp
    assert _tables(store) == tables
    assert _stamp(store) == str(SCHEMA_VERSION)


@pytest.mark.parametrize("older", range(1, SCHEMA_VERSION))
def test_an_older_store_is_upgraded_when_a_command_opens_it_and_keeps_its_data(
    busy_store: Store, capsys: pytest.CaptureFixture[str], older: int
) -> None:
    before = _contents(busy_store)
    tables = _tables(busy_store)
    dropped = _make_older(busy_store, older)
    assert not set(dropped) & set(_tables(busy_store))

    listed = modelbridge(capsys, "versions", "credit", "--json", "--db", busy_store.path)

    assert listed.code == 0, listed.err
    assert [v["version"] for v in listed.json()] == [1]
    assert _stamp(busy_store) == str(SCHEMA_VERSION)
    assert _tables(busy_store) == tables
    assert _contents(busy_store) == before
    with busy_store.read() as r:
        assert audit.verify(r) == []


def test_the_tables_later_steps_added_work_after_the_upgrade(busy_store: Store) -> None:
    _make_older(busy_store, 1)
    upgraded = Store(busy_store.path).open()
    engineer, owner = Identity("erin", "ml_engineer"), Identity("olga", "product_owner")

    case = business_case.save(upgraded, model="credit", changes={"threshold": "0.4"}, by=owner)
    # A busy test machine must not decide the approval through the latency gate.
    update_settings(upgraded, model="credit", changes={"gates.latency_budget_ms": 10_000}, by=owner)
    review = workflow.request_review(upgraded, model="credit", version=1, by=engineer)
    workflow.sign(upgraded, model="credit", version=1, by=owner, decision="approve", comment="fine")
    workflow.promote(upgraded, model="credit", version=1, by=owner)

    assert (case.revision, case.values["threshold"]) == (1, 0.4)
    assert review.id == 1  # the recreated sequence starts afresh
    live = workflow.production(upgraded, model="credit")
    assert (live["version"], live["approved_by"]) == (1, "olga")
    with upgraded.read() as r:
        model_id = get_model(r, name="credit").id
        assert r.rows("SELECT model_id, version, promoted_by FROM production_version") == [
            (model_id, 1, "olga")
        ]
        assert r.rows("SELECT revision, saved_by FROM business_case_revision") == [(1, "olga")]
        assert audit.verify(r) == []


def test_a_store_from_a_newer_release_is_refused_by_every_command_and_left_alone(
    busy_store: Store, binary_files: Case, capsys: pytest.CaptureFixture[str]
) -> None:
    newer = SCHEMA_VERSION + 1
    with busy_store.write() as w:
        w.sql("CREATE TABLE from_the_future (x INTEGER)")
        w.sql("DROP TABLE alert")  # a later release may well have reshaped a table
        w.sql("UPDATE store_meta SET value = ? WHERE key = 'schema_version'", [str(newer)])
    before, tables = _contents(busy_store), _tables(busy_store)

    refusals = [
        modelbridge(capsys, *args, "--db", busy_store.path)
        for args in (
            ("versions", "credit"),
            ("init",),
            ("ingest", "credit", binary_files.logs, "--no-alerts"),
            ("quarantine", "list", "credit"),
        )
    ]

    expected = (
        f"modelbridge: error: This store was written by a newer ModelBridge (schema {newer}, "
        f"this release reads up to {SCHEMA_VERSION}); upgrade modelbridge to open it."
    )
    assert [_one_line_error(ran) for ran in refusals] == [expected] * 4
    assert _stamp(busy_store) == str(newer)
    assert _tables(busy_store) == tables  # nothing created, nothing dropped
    assert "alert" not in tables
    assert _contents(busy_store) == before


def test_a_release_with_a_column_step_runs_it_once_per_store(
    busy_store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    step = SCHEMA_VERSION + 1
    monkeypatch.setattr(store_module, "SCHEMA_VERSION", step)
    monkeypatch.setitem(
        store_module.MIGRATIONS, step, ["ALTER TABLE batch ADD COLUMN note VARCHAR DEFAULT '-'"]
    )

    Store(busy_store.path).open()
    Store(busy_store.path).open()  # ADD COLUMN again would fail: the step must not rerun

    assert _stamp(busy_store) == str(step)
    with busy_store.read() as r:
        assert r.rows("SELECT note, count(*) FROM batch GROUP BY ALL") == [("-", 2)]


def test_a_step_that_fails_half_way_leaves_the_store_on_its_old_version(
    busy_store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    step = SCHEMA_VERSION + 1
    monkeypatch.setattr(store_module, "SCHEMA_VERSION", step)
    monkeypatch.setitem(
        store_module.MIGRATIONS,
        step,
        ["ALTER TABLE batch ADD COLUMN note VARCHAR", "ALTER TABLE no_such_table ADD COLUMN x INT"],
    )

    with pytest.raises(sa.exc.ProgrammingError, match="no_such_table"):
        Store(busy_store.path).open()

    assert _stamp(busy_store) == str(SCHEMA_VERSION)
    with busy_store.read() as r:
        columns = [c for (c,) in r.rows("SELECT column_name FROM duckdb_columns() "
                                        "WHERE table_name = 'batch'")]  # fmt: skip
    assert "note" not in columns


# --- register --timestamp / --id / --ignore ---------------------------------------------------


def _renamed_reference(binary_files: Case, folder: Path) -> Path:
    """The credit reference with an id, a decision time and two columns that are no inputs."""
    reference = pd.read_csv(binary_files.reference)
    reference["case_ref"] = [f"case-{i}" for i in range(len(reference))]
    reference["decided_at"] = pd.date_range("2026-01-01", periods=len(reference), freq="h")
    reference["branch"] = "north"
    reference["notes"] = "none"
    path = folder / "reference.csv"
    reference.to_csv(path, index=False)
    return path


def test_register_uses_the_timestamp_id_and_ignored_columns_it_is_told(
    store: Store, binary_files: Case, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    reference = _renamed_reference(binary_files, tmp_path)

    plain = modelbridge(
        capsys, "register", "plain", "--reference", reference, *CREDIT, "--json", "--db", store.path
    )
    told = modelbridge(
        capsys, "register", "credit", "--reference", reference, *CREDIT,
        "--timestamp", "decided_at", "--id", "case_ref", "--ignore", "branch, notes",
        "--json", "--db", store.path,
    )  # fmt: skip

    assert plain.code == 0 and told.code == 0, (plain.err, told.err)
    assert plain.json()["features"] == [*FEATURES, "case_ref", "decided_at", "branch", "notes"]
    assert told.json()["features"] == FEATURES
    with store.read() as r:
        version = get_version(r, model=get_model(r, name="credit"))
        default = get_version(r, model=get_model(r, name="plain"))
    assert (version.id_column, version.timestamp_column) == ("case_ref", "decided_at")
    assert version.feature_schema["ignored"] == ["branch", "notes"]
    assert (default.id_column, default.timestamp_column) == ("request_id", "timestamp")
    assert default.feature_schema["ignored"] == []


def test_ingest_reads_ids_and_times_from_the_registered_columns(
    store: Store, binary_files: Case, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    reference = _renamed_reference(binary_files, tmp_path)
    modelbridge(
        capsys, "register", "credit", "--reference", reference, *CREDIT,
        "--timestamp", "decided_at", "--id", "case_ref", "--ignore", "branch,notes",
        "--db", store.path,
    )  # fmt: skip
    sent = binary_files.frame.iloc[:30].rename(
        columns={"request_id": "case_ref", "timestamp": "decided_at"}
    )
    sent["branch"] = "south"
    path = tmp_path / "logs.parquet"
    sent.to_parquet(path, index=False)

    ran = modelbridge(capsys, "ingest", "credit", path, "--json", "--no-alerts", "--db", store.path)

    assert ran.code == 0, ran.err
    report = ran.json()
    assert (report["rows_read"], report["rows_ingested"], report["rows_quarantined"]) == (30, 30, 0)
    assert report["extra_columns"] == ["branch"]
    assert report["warnings"] == []  # the time came from decided_at, not the ingest clock
    with store.read() as r:
        stored = r.frame(
            "SELECT request_id, ts, extra FROM "
            f"{log_tables.pred_table(get_model(r, name='credit').id)} "
            "ORDER BY request_id"
        )
    assert stored["request_id"].tolist() == sent["case_ref"].tolist()
    assert stored["ts"].tolist() == sent["decided_at"].dt.tz_localize(None).tolist()
    assert {json.loads(e)["branch"] for e in stored["extra"]} == {"south"}


def test_register_refuses_an_ignored_column_the_reference_lacks(
    store: Store, binary_files: Case, capsys: pytest.CaptureFixture[str]
) -> None:
    ran = modelbridge(
        capsys, "register", "credit", "--reference", binary_files.reference, *CREDIT,
        "--ignore", "branch", "--db", store.path,
    )  # fmt: skip

    message = _one_line_error(ran)
    assert message.startswith(f"modelbridge: error: {binary_files.reference}: no column(s) branch;")
    with store.read() as r:
        assert r.rows("SELECT count(*) FROM model") == [(0,)]


# --- ingest --version N -----------------------------------------------------------------------


def _stored_versions(store: Store) -> list[tuple[int, int]]:
    with store.read() as r:
        table = log_tables.pred_table(get_model(r, name="credit").id)
        return r.rows(f"SELECT version, count(*) FROM {table} GROUP BY ALL ORDER BY 1")


def test_ingest_version_n_validates_and_stamps_rows_against_that_version(
    credit_store: Store, binary_files: Case, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # v2 no longer reads 'segment': v1's files need it, v2's do without.
    modelbridge(
        capsys, "register", "credit", "--reference", binary_files.reference, *CREDIT,
        "--ignore", "segment", "--db", credit_store.path,
    )  # fmt: skip
    frame = binary_files.frame
    with_segment, without = tmp_path / "with.parquet", tmp_path / "without.parquet"
    also_without = tmp_path / "also-without.parquet"
    frame.iloc[:100].to_parquet(with_segment, index=False)
    frame.iloc[100:160].drop(columns="segment").to_parquet(without, index=False)
    frame.iloc[160:200].drop(columns="segment").to_parquet(also_without, index=False)
    db = ("--json", "--no-alerts", "--db", credit_store.path)

    latest = modelbridge(capsys, "ingest", "credit", without, *db)
    pinned = modelbridge(capsys, "ingest", "credit", with_segment, "--version", "1", *db)
    refused = modelbridge(capsys, "ingest", "credit", also_without, "--version", "1", *db)
    unknown = modelbridge(capsys, "ingest", "credit", with_segment, "--version", "7", *db)

    assert (latest.code, latest.json()["rows_ingested"]) == (0, 60)
    assert (pinned.code, pinned.json()["rows_ingested"]) == (0, 100)
    assert refused.code == 3
    assert refused.json()["error"] == (
        f"{also_without}: missing required column(s) 'segment' (feature); nothing was ingested "
        "from this file"
    )
    assert _one_line_error(unknown) == "modelbridge: error: model 'credit' has no version 7"
    assert _stored_versions(credit_store) == [(1, 100), (2, 60)]
    with credit_store.read() as r:
        batches = r.rows("SELECT version, rows_ingested FROM batch ORDER BY created_at")
    assert batches == [(2, 60), (1, 100)]
