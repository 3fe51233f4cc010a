"""The team catalog on PostgreSQL: the same store code, with the invariants the DuckDB file gave
for free made explicit (serialised audit appends, one production version, unique users)."""

from __future__ import annotations

import multiprocessing
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from sqlmodel import select

from core import audit, users
from core.auth import Identity
from core.errors import InvalidInput, NotFound, StoreFault
from core.ingest import BatchResult, ingest_predictions
from core.registry import RegistrationSpec, register_version
from core.settings import Settings
from core.store import Model, ModelVersion, Store, TeamStore, open_store
from core.store.team_logs import TeamLogs
from core.workflow import promote
from tests import postgres
from tests.conftest import ROOT
from tests.factories import Case

ADMIN = Identity("ada", "admin")


def test_a_postgresql_url_opens_a_team_catalog_and_a_path_the_embedded_store(
    tmp_path: Path,
) -> None:
    assert isinstance(open_store("postgresql://u@127.0.0.1:1/x"), TeamStore)
    assert type(open_store(tmp_path / "s.duckdb")) is Store
    team = Store.from_settings(Settings.from_env("postgresql://u:secret@127.0.0.1:1/x"))
    assert isinstance(team, TeamStore)
    assert "secret" not in team.location and "127.0.0.1:1/x" in team.location


def test_a_team_catalog_needs_a_log_location_and_remembers_it(
    postgres_server: postgres.Server, tmp_path: Path
) -> None:
    store = TeamStore(postgres_server.create())
    with pytest.raises(InvalidInput, match="--logs PATH"):
        store.init()
    assert not store.exists()
    assert store.init(logs=tmp_path / "shared") is True
    assert store.exists()
    again = TeamStore(store.url)
    assert again.init() is False  # upgrading needs no --logs once it is set
    assert again.log_location == (tmp_path / "shared").resolve()
    assert again.artifact_home == (tmp_path / "shared" / "artifacts").resolve()


def test_an_embedded_store_refuses_a_log_location(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="team catalog"):
        Store(tmp_path / "s.duckdb").init(logs=tmp_path / "logs")


def test_an_unreachable_or_missing_catalog_is_a_clear_error(
    postgres_server: postgres.Server,
) -> None:
    with pytest.raises(StoreFault, match="check that PostgreSQL is running"):
        TeamStore(f"postgresql://postgres@127.0.0.1:{_closed_port()}/x", lock_wait_seconds=1)\
            .exists()  # fmt: skip
    with pytest.raises(NotFound, match="create the database"):
        TeamStore(postgres_server.url("no_such_db")).exists()
    with pytest.raises(NotFound, match="modelbridge init"):
        TeamStore(postgres_server.create()).open()


def _closed_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_every_write_bumps_the_revision_every_replica_reads(team_store: TeamStore) -> None:
    replica = TeamStore(team_store.url)
    before = replica.revision()
    with team_store.read():
        pass
    assert replica.revision() == before
    users.first_admin(team_store, username="ada", password="a long password")
    assert replica.revision()[0] == before[0] + 1


def test_users_sign_in_and_are_unique_regardless_of_case(team_store: TeamStore) -> None:
    users.first_admin(team_store, username="ada", password="a long password")
    users.add_user(team_store, username="olga", role="product_owner", password="p" * 12, by=ADMIN)
    assert users.sign_in(team_store, username="olga", password="p" * 12, client="t").role == (
        "product_owner"
    )
    with pytest.raises(InvalidInput, match="unique regardless of case"):
        users.add_user(team_store, username="OLGA", role="manager", password="p" * 12, by=ADMIN)
    with team_store.read() as r:
        assert audit.verify(r) == []


def _append(url: str, who: str, n: int) -> None:
    store = TeamStore(url)
    for i in range(n):
        with store.write() as w:
            audit.record(w, actor=who, action="sign_off_approve", after={"i": i})


def test_four_processes_appending_to_the_audit_trail_never_fork_it(
    team_store: TeamStore,
) -> None:
    # Without a lock, 4 processes x 25 appends forked the chain 39 times on PostgreSQL.
    context = multiprocessing.get_context("spawn")
    workers = [
        context.Process(target=_append, args=(team_store.url, f"user{k}", 25)) for k in range(4)
    ]
    for p in workers:
        p.start()
    for p in workers:
        p.join(timeout=120)
        assert p.exitcode == 0
    with team_store.read() as r:
        trail = r.catalog_frame("SELECT id, prev_hash, hash FROM audit_event ORDER BY id")
        assert audit.verify(r) == []
    assert len(trail) == 100
    assert trail["prev_hash"].nunique() == 100  # no two events chain onto the same one


def _approved_versions(store: TeamStore, n: int) -> None:
    with store.write() as w:
        model = Model(name="credit", task="binary", positive_label="1")
        w.session.add(model)
        w.session.flush()
        for v in range(1, n + 1):
            w.session.add(ModelVersion(model_id=model.id, version=v, stage="approved"))
        for v in range(1, n + 1):
            audit.record(w, actor="ci", action="register_version", model="credit", version=v)
            audit.record(
                w, actor="olga", action="approve", model="credit", version=v,
                after={"stage": "approved"},
            )  # fmt: skip


def test_twenty_promotions_at_once_leave_one_production_version(team_store: TeamStore) -> None:
    _approved_versions(team_store, 20)
    start = threading.Barrier(20)
    failures: list[BaseException] = []

    def race(version: int) -> None:  # each with its own connections, as 20 replicas would
        store = TeamStore(team_store.url)
        start.wait()
        try:
            promote(store, model="credit", version=version, by=Identity("olga", "product_owner"))
        except BaseException as exc:
            failures.append(exc)

    racers = [threading.Thread(target=race, args=(v,)) for v in range(1, 21)]
    for t in racers:
        t.start()
    for t in racers:
        t.join(timeout=120)
    assert failures == []
    with team_store.read() as r:
        live = r.catalog("SELECT model_id, version FROM production_version").all()
        stages = {v.version: v.stage for v in r.session.exec(select(ModelVersion)).all()}
        problems = audit.verify(r)
    in_production = [v for v, stage in stages.items() if stage == "production"]
    assert len(live) == 1 and [v for _, v in live] == in_production
    assert sorted(stages.values()).count("archived") == 19
    assert problems == []


def test_the_cli_creates_a_team_catalog_and_its_first_admin(
    postgres_server: postgres.Server, tmp_path: Path
) -> None:
    url = postgres_server.create()
    done = subprocess.run(
        [sys.executable, "-m", "core", "init", "--db", url, "--logs", str(tmp_path / "logs"),
         "--admin", "ada", "--json"],
        capture_output=True, text=True, cwd=ROOT, timeout=120,
        env={"MODELBRIDGE_PASSWORD": "a long password", "PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert '"created": true' in done.stdout and '"admin": "ada"' in done.stdout
    again = subprocess.run(
        [sys.executable, "-m", "core", "init", "--db", url],
        capture_output=True, text=True, cwd=ROOT, timeout=120,
    )  # fmt: skip
    assert again.returncode == 0 and "Already exists" in again.stdout
    assert users.sign_in(TeamStore(url), username="ada", password="a long password",
                         client="t").role == "admin"  # fmt: skip


# --- logs as Parquet files, committed with their batch ---------------------------------------


def _registered(store: TeamStore, case: Case) -> None:
    register_version(
        store,
        spec=RegistrationSpec(
            model="credit", reference=case.reference, target="defaulted", prediction="score",
            model_file=case.model_file, created_by="ci",
        ),
    )  # fmt: skip


def _logged(store: TeamStore) -> tuple[int, int]:
    with store.read() as r:
        rows = r.rows("SELECT count(*) FROM pred_m1")[0][0]
        batches = r.catalog("SELECT count(*) FROM batch WHERE kind = 'prediction'").scalar()
    return int(rows), int(batches)


def test_one_file_sent_by_two_workers_at_once_is_stored_once(
    team_store: TeamStore, binary_files: Case
) -> None:
    _registered(team_store, binary_files)
    start = threading.Barrier(2)
    results: list[list[BatchResult]] = []

    def worker() -> None:  # each its own store object, as on two machines
        mine = TeamStore(team_store.url)
        start.wait()
        results.append(ingest_predictions(mine, model="credit", files=[binary_files.logs]))

    workers = [threading.Thread(target=worker) for _ in range(2)]
    for t in workers:
        t.start()
    for t in workers:
        t.join(timeout=120)

    outcomes = sorted((r.rows_ingested, r.duplicate_of is not None) for [r] in results)
    assert outcomes == [(0, True), (400, False)]
    assert _logged(team_store) == (400, 1)


def test_a_batch_whose_commit_fails_leaves_only_files_no_one_reads_and_they_are_cleaned(
    team_store: TeamStore, binary_files: Case, monkeypatch: pytest.MonkeyPatch
) -> None:
    _registered(team_store, binary_files)
    written = TeamLogs.flush

    def flush_then_fail(self: TeamLogs) -> None:
        written(self)  # the files are on disk, the catalog commit never comes
        raise OSError("the worker's machine lost power")

    monkeypatch.setattr(TeamLogs, "flush", flush_then_fail)
    with pytest.raises(OSError):
        ingest_predictions(team_store, model="credit", files=[binary_files.logs])
    monkeypatch.undo()

    on_disk = sorted(team_store.log_location.glob("kind=prediction/**/*.parquet"))
    assert len(on_disk) == 11  # one per day of the file
    assert _logged(team_store) == (0, 0)
    assert team_store.clean_log_files(grace_seconds=3600) == []  # too young: may be in flight
    removed = team_store.clean_log_files(grace_seconds=0)
    assert len(removed) == 11 and not any(p.exists() for p in on_disk)
    [retry] = ingest_predictions(team_store, model="credit", files=[binary_files.logs])
    assert retry.rows_ingested == 400 and _logged(team_store) == (400, 1)
