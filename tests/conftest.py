"""Shared fixtures: a temporary store, small real models, and a CLI runner."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from core.registry import RegistrationSpec, register_version
from core.store import Store, TeamStore
from tests import postgres, s3
from tests.factories import Case, binary_case, regression_case

ROOT = Path(__file__).resolve().parent.parent


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--catalog",
        choices=("duckdb", "postgresql"),
        default="duckdb",
        help="the store the `store` fixture gives: an embedded DuckDB file, or a team catalog "
        "on a PostgreSQL server the tests start (logs as Parquet under a temporary folder)",
    )
    parser.addoption(
        "--logs",
        choices=("folder", "s3"),
        default="folder",
        help="where a team catalog's log files go: a temporary folder, or a bucket on an S3 "
        "server the tests start",
    )


@pytest.fixture(autouse=True)
def _no_warm_up_thread(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """An AppTest run of app/main.py starts the server's warm-up thread, which would outlive
    the test and could still be inside DuckDB when the test process exits (an abort). Browser
    tests keep it: they run real servers, as a user meets them."""
    if "e2e" not in request.node.path.parts:
        monkeypatch.setenv("MODELBRIDGE_WARM_UP", "off")


@pytest.fixture
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    """An empty, initialised store: a DuckDB file in a temporary folder, or with
    --catalog postgresql a team catalog (a new database) with its log location."""
    if request.config.getoption("--catalog") == "postgresql":
        return request.getfixturevalue("team_store")
    s = Store(tmp_path / "store.duckdb", lock_wait_seconds=10)
    s.init()
    return s


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[postgres.Server]:
    """One PostgreSQL server for the test session (started on first use, stopped at the end)."""
    with postgres.server() as running:
        yield running


@pytest.fixture
def team_store(
    request: pytest.FixtureRequest, postgres_server: postgres.Server, tmp_path: Path
) -> TeamStore:
    """An empty, initialised team catalog (a new PostgreSQL database) with its log location:
    a temporary folder, or with --logs s3 a new bucket."""
    s = TeamStore(postgres_server.create(), lock_wait_seconds=10)
    in_s3 = request.config.getoption("--logs") == "s3"
    s.init(logs=request.getfixturevalue("s3_logs") if in_s3 else tmp_path / "logs")
    return s


@pytest.fixture(scope="session")
def s3_server() -> Iterator[s3.Server]:
    """One S3-compatible server for the test session (started on first use)."""
    with s3.running() as running:
        yield running


@pytest.fixture
def s3_logs(s3_server: s3.Server, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    """A log location in a new, empty bucket, with this process (and the processes it starts)
    set up to reach it; model files downloaded from it go to a temporary cache."""
    import s3fs

    for name, value in s3_server.environment.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("MODELBRIDGE_CACHE", str(tmp_path / "cache"))
    s3fs.S3FileSystem.clear_instance_cache()  # made with another test's settings
    return f"s3://{s3_server.bucket()}/logs"


@pytest.fixture(scope="session")
def binary_files(tmp_path_factory: pytest.TempPathFactory) -> Case:
    """Files of a small binary credit model (built once per session; read-only for tests)."""
    return binary_case(tmp_path_factory.mktemp("binary"))


@pytest.fixture(scope="session")
def regression_files(tmp_path_factory: pytest.TempPathFactory) -> Case:
    """Files of a small regression model."""
    return regression_case(tmp_path_factory.mktemp("regression"))


@pytest.fixture
def credit_store(store: Store, binary_files: Case) -> Store:
    """A store with model 'credit' v1 registered from the binary case (artifact included)."""
    register_version(
        store,
        spec=RegistrationSpec(
            model="credit",
            reference=binary_files.reference,
            target="defaulted",
            prediction="score",
            model_file=binary_files.model_file,
            created_by="ci",
            git_sha="abc123",
        ),
    )
    return store


@dataclass(frozen=True)
class Ran:
    """A finished CLI run."""

    code: int
    out: str
    err: str

    def json(self) -> object:
        """stdout parsed as JSON."""
        return json.loads(self.out)


def in_process_cli(
    store: Store,
    passwords: dict[str, str],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> Callable[..., Ran]:
    """`modelbridge ARGS --db STORE` in this process, signed in as USER (from PASSWORDS) when
    given, as `python -m core` runs it."""
    from core.cli import main

    def run(*args: str, user: str | None = None) -> Ran:
        argv = [*args, "--db", store.target]
        if user is not None:
            monkeypatch.setenv("MODELBRIDGE_PASSWORD", passwords[user])
            argv += ["--user", user]
        try:
            code = main(argv)
        except SystemExit as exc:  # argparse's own exit
            code = int(exc.code or 0)
        finally:
            monkeypatch.delenv("MODELBRIDGE_PASSWORD", raising=False)
        out, err = capsys.readouterr()
        return Ran(code, out, err)

    return run


def run_cli(
    *args: str | Path,
    db: Path | str | None = None,
    env: dict[str, str] | None = None,
    stdin: str | None = None,
) -> Ran:
    """Run `python -m core ARGS` in a subprocess, as a pipeline would."""
    full_env = {**os.environ, **(env or {})}
    full_env.pop("MODELBRIDGE_DB", None)
    command = [sys.executable, "-m", "core", *map(str, args)]
    if db is not None:
        command += ["--db", str(db)]
    done = subprocess.run(
        command, capture_output=True, text=True, env=full_env, cwd=ROOT, input=stdin, timeout=300
    )
    return Ran(done.returncode, done.stdout, done.stderr)


def copy_store(source: Path, folder: Path, *, lock_wait_seconds: float = 60) -> Store:
    """A private copy of the store file SOURCE (with its WAL, if any) in FOLDER."""
    for found in source.parent.glob(source.name + "*"):
        shutil.copy(found, folder / found.name)
    return Store(folder / source.name, lock_wait_seconds=lock_wait_seconds)
