"""README's "Run it for a team" commands run as written against a real PostgreSQL catalog."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd

from core.store import TeamStore
from tests import postgres
from tests.conftest import ROOT
from tests.factories import Case

SECTION = "## Run it for a team"


def team_commands(readme: str) -> list[str]:
    """The commands of the section's shell block, without comments and the export line."""
    section = readme[readme.index(SECTION) :]
    block = re.search(r"```sh\n(.*?)```", section, re.S)
    assert block, "the team section has no shell block"
    lines = [line.strip() for line in block.group(1).splitlines()]
    return [line for line in lines if line and not line.startswith(("#", "export "))]


def _worker(case: Case, folder: Path, url: str) -> dict[str, str]:
    """The README's input files in FOLDER, and a worker's environment (this one's, with the
    bucket's endpoint and credentials when a test set them) on the catalog URL."""
    shutil.copy(case.reference, folder / "reference.csv")
    shutil.copy(case.model_file, folder / "model.skops")
    shutil.copy(case.labels, folder / "labels.csv")
    pd.read_parquet(case.logs).to_csv(folder / "predictions.csv", index=False)
    return {
        **os.environ,
        "MODELBRIDGE_DB": url,
        "MODELBRIDGE_PASSWORD": "a long password",
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
    }


def test_the_team_commands_run_as_written(
    postgres_server: postgres.Server, binary_files: Case, tmp_path: Path
) -> None:
    commands = team_commands((ROOT / "README.md").read_text())
    assert [c.split()[1] for c in commands] == [
        "init", "register", "ingest", "labels", "aggregate", "clean-logs",
    ]  # fmt: skip
    url = postgres_server.create()
    env = _worker(binary_files, tmp_path, url)
    shared = tmp_path / "shared"
    for command in commands:
        done = subprocess.run(
            ["bash", "-c", command.replace("/mnt/shared/modelbridge", str(shared))],
            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert done.returncode == 0, (command, done.stdout, done.stderr)

    store = TeamStore(url)
    with store.read() as r:
        assert r.rows("SELECT count(*) FROM pred_m1")[0][0] == 400
        assert r.rows("SELECT count(*) FROM label")[0][0] == 200
    assert store.log_location == shared.resolve()
    assert len(list(shared.glob("kind=prediction/model=1/version=1/day=*/*.parquet"))) == 11
    assert done.stdout.strip() == "0 uncommitted log file(s) removed"
    with store.read() as r:  # ingest and labels counted their days; aggregate found none left
        counted = r.catalog("SELECT sum(n), sum(labelled) FROM day_score").fetchall()[0]
        assert tuple(int(x) for x in counted) == (400, 200)
        assert r.catalog("SELECT count(*) FROM day_stale").scalar() == 0


def test_the_team_commands_run_with_logs_in_a_bucket(
    postgres_server: postgres.Server, binary_files: Case, tmp_path: Path, s3_logs: str
) -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index(SECTION) :]
    bucket_init = "modelbridge init --logs s3://team-bucket/modelbridge --admin ada"
    assert f"`{bucket_init}` and the same commands as\nabove" in section
    commands = [
        bucket_init if c.startswith("modelbridge init") else c for c in team_commands(readme)
    ]
    url = postgres_server.create()
    env = _worker(binary_files, tmp_path, url)
    for command in commands:
        done = subprocess.run(
            ["bash", "-c", command.replace("s3://team-bucket/modelbridge", s3_logs)],
            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert done.returncode == 0, (command, done.stdout, done.stderr)

    store = TeamStore(url)
    with store.read() as r:
        assert r.rows("SELECT count(*) FROM pred_m1")[0][0] == 400
        assert r.rows("SELECT count(*) FROM label")[0][0] == 200
    remote = store.logs.remote
    assert remote is not None and store.logs.stored == s3_logs
    files = remote.listing("kind=prediction/model=1/version=1")
    assert len(files) == 11 and all(p.endswith(".parquet") for p in files)
    assert [p.split("/")[0] for p in remote.listing("")].count("artifacts") == 1
    assert done.stdout.strip() == "0 uncommitted log file(s) removed"
