"""Log files in an S3 bucket keep the folder's guarantees: the same bytes at the same paths, a
batch visible only with its catalog commit, a retry that doubles nothing, a worker that never
commits leaving files the cleaner removes, and clear errors for a bucket that is not there.
Every test speaks S3 over HTTP to a real server process (tests/s3.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from core.errors import InvalidInput, StoreFault
from core.logfiles import (
    LogLocation,
    ObjectFolder,
    StaleBatch,
    clean_orphans,
    commit_rows,
    committed_view,
)
from core.store import Store
from tests.conftest import ROOT
from tests.logfiles.conftest import make_predictions
from tests.logfiles.test_batches import HOUR, commit, committed_paths, visible, write


@pytest.fixture
def bucket(s3_logs: str) -> LogLocation:
    return LogLocation.parse(s3_logs)


def objects(location: LogLocation) -> dict[str, int]:
    """Every object under the location, with its size."""
    assert location.remote is not None
    return {path: size for path, (size, _) in location.remote.listing("").items()}


def test_an_s3_location_is_checked_and_remembered_by_its_url(s3_logs: str) -> None:
    location = LogLocation.parse(s3_logs + "/")

    assert location.root is None and location.stored == s3_logs == location.url
    assert LogLocation.of(location.stored) == location
    assert (
        location.address("kind=label/model=1/b.parquet")
        == f"{s3_logs}/kind=label/model=1/b.parquet"
    )
    with pytest.raises(ValueError, match="not a folder on this machine"):
        location.path_of("kind=label/model=1/b.parquet")
    with pytest.raises(ValueError, match="not a path inside"):
        location.address("../other/b.parquet")


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("s3://", "names no bucket"),
        ("s3:///logs", "names no bucket"),
        ("s3://bucket/../logs", r"'\.' or '\.\.'"),
        ("s3://no-such-bucket-here/logs", "bucket no-such-bucket-here does not exist at http://"),
        ("gs://bucket/logs", r"gs:// object stores are not supported yet; give an s3:// URL"),
    ],
)
def test_a_location_that_cannot_be_used_is_refused_in_one_line(
    s3_logs: str, url: str, message: str
) -> None:
    with pytest.raises(InvalidInput, match=message) as refused:
        LogLocation.parse(url)
    assert "\n" not in str(refused.value)


def test_wrong_credentials_are_refused_clearly(
    s3_logs: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import s3fs

    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    s3fs.S3FileSystem.clear_instance_cache()

    with pytest.raises(InvalidInput, match="this machine has no credentials for it; set AWS_"):
        LogLocation.parse(s3_logs)


def test_the_same_rows_give_the_same_paths_and_bytes_in_a_bucket_as_in_a_folder(
    con: Any, bucket: LogLocation, tmp_path: Path
) -> None:
    folder = LogLocation.parse(str(tmp_path / "logs"), create=True)
    make_predictions(con, "accepted", rows=20_000, days=3, versions=2)

    in_bucket = write(con, bucket, "b-1", "accepted")
    in_folder = write(con, folder, "b-1", "accepted")

    assert [(f.path, f.rows, f.bytes, f.sha256) for f in in_bucket] == [
        (f.path, f.rows, f.bytes, f.sha256) for f in in_folder
    ]
    assert len(in_bucket) == 6
    assert objects(bucket) == {f.path: f.bytes for f in in_bucket}  # no temporary object
    remote = bucket.remote
    assert remote is not None
    downloaded = tmp_path / "copy.parquet"
    assert remote.fetch(in_bucket[0].path, downloaded) == in_bucket[0].sha256


def test_a_batch_in_a_bucket_becomes_visible_only_with_its_catalog_commit(
    con: Any, bucket: LogLocation, store: Store
) -> None:
    make_predictions(con, "accepted", rows=5000, days=2, prefix="one-")
    files = write(con, bucket, "b-one", "accepted")

    assert visible(store, bucket) == []

    commit(store, bucket, "b-one", files)

    assert visible(store, bucket) == [("one", 5000, 5000)]
    # A retry uploads the same bytes to the same keys; committing it again is refused, so the
    # rows are never doubled.
    assert [f.sha256 for f in write(con, bucket, "b-one", "accepted")] == [f.sha256 for f in files]
    assert visible(store, bucket) == [("one", 5000, 5000)]


def test_a_worker_that_never_commits_leaves_files_the_cleaner_removes(
    con: Any, bucket: LogLocation, store: Store
) -> None:
    make_predictions(con, "first", rows=1000, prefix="kept-")
    commit(store, bucket, "b-kept", write(con, bucket, "b-kept", "first"))
    remote = bucket.remote
    assert remote is not None
    remote.fs.pipe_file(remote.key("kind=prediction/README.txt"), b"not ours")
    worker = subprocess.run(
        [sys.executable, "-m", "tests.logfiles.worker", bucket.stored, str(store.path),
         "b-lost", "lost-", "30000", "3", "", "--no-commit"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert worker.returncode == 0, worker.stderr
    lost = sorted(p for p in objects(bucket) if p.endswith("/b-lost.parquet"))
    assert len(lost) == 3

    assert visible(store, bucket) == [("kept", 1000, 1000)]
    young = clean_orphans(bucket, committed_paths=committed_paths(store), grace_seconds=HOUR)
    assert young == []

    removed = clean_orphans(bucket, committed_paths=committed_paths(store), grace_seconds=0)

    assert removed == lost
    assert sorted(objects(bucket)) == sorted(
        [*committed_paths(store), "kind=prediction/README.txt"]
    )
    assert visible(store, bucket) == [("kept", 1000, 1000)]


def test_a_file_removed_from_the_bucket_is_refused_at_commit_and_reported_when_read(
    con: Any, bucket: LogLocation, store: Store
) -> None:
    make_predictions(con, "accepted", rows=3000, days=2)
    files = write(con, bucket, "b-gone", "accepted")
    remote = bucket.remote
    assert remote is not None
    remote.remove(files[0].path)

    with pytest.raises(StaleBatch, match="is gone"):
        commit_rows(files, batch_id="b-gone", location=bucket)

    commit(store, bucket, "b-kept", write(con, bucket, "b-kept", "accepted"))
    remote.remove(committed_paths(store)[1])
    with pytest.raises(StoreFault, match=r"1 committed log file\(s\) are missing under s3://"):
        committed_view(
            con, location=bucket, name="pred", files=committed_paths(store),
            columns={"request_id": "VARCHAR"},
        )  # fmt: skip


def test_an_object_folder_names_its_objects_under_its_prefix() -> None:
    folder = ObjectFolder.parse("s3://team-bucket//modelbridge/logs/")

    assert folder == ObjectFolder("team-bucket", "modelbridge/logs")
    assert folder.key("kind=label/a.parquet") == "team-bucket/modelbridge/logs/kind=label/a.parquet"
    assert ObjectFolder.parse("s3://team-bucket").url == "s3://team-bucket"
