"""The catalog's list of committed log files: a batch's files become visible to readers in the
one catalog transaction that inserts their rows together with the batch's own record."""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import UTC, date, datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from core.errors import ModelBridgeError
from core.logfiles.location import LogLocation
from core.logfiles.writing import WrittenFile

# Uncommitted files older than this are orphans the cleaner may remove; a batch whose files
# are older than half of it is refused at commit, so no commit can race the cleaner.
DEFAULT_GRACE_SECONDS = 6 * 3600.0


class LogFile(SQLModel, table=True):
    """One committed Parquet log file; readers read exactly the files listed here."""

    __tablename__ = "log_file"
    path: str = Field(primary_key=True)  # relative to the log location; unique by the key
    batch_id: str = Field(index=True)
    kind: str
    model_id: int = Field(index=True)
    version: int | None = None
    day: date | None = None
    # 64-bit: a backfill's file can pass 2 GiB, the limit of SQL INTEGER on both catalogs.
    rows: int = Field(sa_type=sa.BigInteger)
    bytes: int = Field(sa_type=sa.BigInteger)
    sha256: str
    committed_at: datetime = Field(
        default_factory=lambda: datetime.now(UTC), sa_type=sa.DateTime(timezone=True)
    )


class StaleBatch(ModelBridgeError):
    """A batch's files are missing, changed, or too old to commit safely; write it again."""


def commit_rows(
    files: Sequence[WrittenFile],
    *,
    batch_id: str,
    location: LogLocation,
    grace_seconds: float = DEFAULT_GRACE_SECONDS,
) -> list[LogFile]:
    """The catalog rows that commit FILES of BATCH_ID, after checking each is still on disk.

    Add them in the transaction that records the batch. A file must exist with the size it was
    written with and be younger than half the cleaner's GRACE_SECONDS: an older one may be
    removed as an orphan while this commit runs (see clean_orphans).
    """
    now = time.time()
    rows = []
    for file in files:
        if not file.path.endswith(f"/{batch_id}.parquet"):
            raise ValueError(f"{file.path} is not a file of batch {batch_id}")
        found = _stat(location, file.path)
        if found is None:
            raise StaleBatch(
                f"log file {file.path} of batch {batch_id} is gone (removed as an orphan?); "
                "ingest the file again"
            )
        size, modified = found
        if size != file.bytes:
            raise StaleBatch(
                f"log file {file.path} changed since batch {batch_id} wrote it (another attempt "
                "of the batch?); ingest the file again"
            )
        if now - modified > grace_seconds / 2:
            raise StaleBatch(
                f"log file {file.path} of batch {batch_id} was written {now - modified:.0f}"
                f" s ago, too close to the {grace_seconds:.0f} s after which uncommitted files "
                "are removed; ingest the file again"
            )
        rows.append(
            LogFile(
                path=file.path,
                batch_id=batch_id,
                kind=file.kind,
                model_id=file.model_id,
                version=file.version,
                day=file.day,
                rows=file.rows,
                bytes=file.bytes,
                sha256=file.sha256,
            )
        )
    return rows


def _stat(location: LogLocation, relative: str) -> tuple[int, float] | None:
    """Size and last-modified time of the file at RELATIVE, or None when it is not there."""
    if location.remote is not None:
        return location.remote.stat(relative)
    try:
        found = location.path_of(relative).stat()
    except FileNotFoundError:
        return None
    return found.st_size, found.st_mtime
