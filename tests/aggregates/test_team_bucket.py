"""A team store whose logs and model files are in an S3 bucket gives the figures of one whose
logs are in a shared folder: drift, performance, the day counts, an explanation, business value;
a machine loads a model file from the bucket once and refuses one changed after registration;
and Spark says what it lacks to read a bucket instead of failing half-way."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from core.aggregates import refresh_day_counts
from core.errors import InvalidInput
from core.explain.cases import explain_case
from core.explain.version_explainer import _cached_explainer
from core.logfiles import ObjectFolder
from core.registry import get_model, get_version
from core.registry.artifacts import model_file
from core.store import TeamStore
from tests import postgres
from tests.aggregates.test_day_counts import TRAFFIC_TABLES, _figures, _filled, _same, _stored
from tests.aggregates.test_value_counts import BINARY_CASE, OWNER
from tests.conftest import ROOT
from tests.factories import Case

DAY_TABLES = ("day_numeric", "day_category", "day_score", "day_decision", "day_curve",
              *TRAFFIC_TABLES)  # fmt: skip


def _team(server: postgres.Server, logs: str | Path, case: Case) -> TeamStore:
    from core.value import business_case

    store = TeamStore(server.create(), lock_wait_seconds=10)
    store.init(logs=logs)
    _filled(store, case)
    business_case.save(store, model="credit", changes=BINARY_CASE, by=OWNER)
    return store


@pytest.fixture
def pair(
    postgres_server: postgres.Server, s3_logs: str, binary_files: Case, tmp_path: Path
) -> tuple[TeamStore, TeamStore]:
    """The same model and logs in a team store with a folder and in one with a bucket."""
    return (
        _team(postgres_server, tmp_path / "shared", binary_files),
        _team(postgres_server, s3_logs, binary_files),
    )


def test_a_bucket_gives_the_figures_a_folder_gives_from_the_logs_and_from_the_counts(
    pair: tuple[TeamStore, TeamStore],
) -> None:
    in_folder, in_bucket = pair
    assert in_bucket.logs.remote is not None and in_folder.logs.remote is None

    for got, want in zip(_figures(in_bucket, "W"), _figures(in_folder, "W"), strict=True):
        _same(got, want)  # read from the committed files: days not counted yet

    assert refresh_day_counts(in_bucket).days == refresh_day_counts(in_folder).days != {}
    for table in DAY_TABLES:
        want, got = (_stored(s, table).drop(columns="batch_id", errors="ignore") for s in pair)
        assert len(want) > 0, table
        pd.testing.assert_frame_equal(got, want, check_exact=False, rtol=1e-12)
    for got, want in zip(_figures(in_bucket, "D"), _figures(in_folder, "D"), strict=True):
        _same(got, want)
    got_value, want_value = _value_of(in_bucket), _value_of(in_folder)
    _same(got_value["windows"], want_value["windows"])
    assert got_value["overall"] == want_value["overall"]


def _value_of(store: TeamStore) -> dict[str, Any]:
    from core.monitoring.windows import WindowSpec
    from core.value import figures, kpi

    with store.read() as r:
        model = get_model(r, name="credit")
        version = get_version(r, model=model, version=1)
        return {
            "windows": kpi.by_window(r, model=model, version=version, spec=WindowSpec.parse("W")),
            "overall": figures.realized_overall(r, model=model, version=version),
        }


def test_an_explanation_loads_the_model_from_the_bucket_once_and_matches_the_folders(
    pair: tuple[TeamStore, TeamStore], tmp_path: Path
) -> None:
    in_folder, in_bucket = pair
    with in_bucket.read() as r:
        request = r.rows("SELECT request_id FROM pred_m1 ORDER BY request_id LIMIT 1")[0][0]
        version = get_version(r, model=get_model(r, name="credit"), version=1)
    assert version.artifact_path.startswith(in_bucket.logs.stored + "/artifacts/")
    cached = tmp_path / "cache" / "artifacts" / f"{version.artifact_sha256}.skops"
    assert cached.is_file()  # registration keeps a copy; another machine starts without
    cached.unlink()
    _cached_explainer.cache_clear()

    got = explain_case(in_bucket, model="credit", request_id=request)
    want = explain_case(in_folder, model="credit", request_id=request)

    assert cached.is_file()
    assert got.explanation.contributions == want.explanation.contributions
    assert got.explanation.output == want.explanation.output
    assert got.reasons == want.reasons


def test_a_model_file_changed_in_the_bucket_is_refused(
    pair: tuple[TeamStore, TeamStore], tmp_path: Path
) -> None:
    _, in_bucket = pair
    with in_bucket.read() as r:
        version = get_version(r, model=get_model(r, name="credit"), version=1)
    folder, _, name = version.artifact_path.rpartition("/")
    bucket = ObjectFolder.parse(folder)
    bucket.fs.pipe_file(bucket.key(name), b"not the registered model")
    (tmp_path / "cache" / "artifacts" / name).unlink(missing_ok=True)

    with pytest.raises(InvalidInput, match="its sha256 differs from the one registered"):
        model_file(version.artifact_path, sha256=version.artifact_sha256)
    assert not (tmp_path / "cache" / "artifacts" / name).exists()


def test_the_cli_runs_a_team_with_a_bucket(
    postgres_server: postgres.Server, s3_logs: str, binary_files: Case
) -> None:
    url = postgres_server.create()

    def cli(*args: str) -> Any:
        done = subprocess.run(
            [sys.executable, "-m", "core", *args, "--db", url], cwd=ROOT,
            capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert done.returncode == 0, (args, done.stderr)
        return done

    cli("init", "--logs", s3_logs)
    cli("register", "credit", "--reference", str(binary_files.reference),
        "--target", "defaulted", "--prediction", "score",
        "--model-file", str(binary_files.model_file))  # fmt: skip
    cli("ingest", "credit", str(binary_files.logs), "--no-alerts")
    drift = json.loads(cli("drift", "credit", "--json").stdout)
    cleaned = cli("clean-logs")

    assert TeamStore(url).logs.stored == s3_logs
    assert drift and cleaned.stdout.strip() == "0 uncommitted log file(s) removed"
    refused = subprocess.run(
        [sys.executable, "-m", "core", "init", "--db", postgres_server.create(), "--logs",
         s3_logs.replace("s3://", "s3://no-such-") ],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert refused.returncode == 2
    assert "does not exist" in refused.stderr and "Traceback" not in refused.stderr


@pytest.mark.spark
def test_spark_without_the_s3_connector_says_so_before_counting(
    pair: tuple[TeamStore, TeamStore], spark: Any
) -> None:
    _, in_bucket = pair

    with pytest.raises(InvalidInput, match=r"Hadoop's S3 connector .* is not on its class path"):
        refresh_day_counts(in_bucket, engine="spark")
