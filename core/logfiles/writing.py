"""Writing a batch's accepted rows as Parquet files under the log location, one file per
partition, each written under a temporary name, flushed to disk and renamed into place.

In an object store, a file is written locally and uploaded to its final key: the object appears
whole when the upload ends.

Layout: kind=<kind>/model=<id>[/version=<v>][/day=<YYYY-MM-DD>]/<batch_id>.parquet. The name
depends on the batch id only, so a retry of a batch writes the same paths again (replacing
what a crashed attempt left, which no reader sees before the catalog commit) instead of adding
files beside them. Rows are written in the order the SELECT gives them, so the same rows give
byte-identical files. Snappy, every engine's default codec: zstd made files 40% smaller but
took 1.7 times the CPU (bench/RESULTS.md, issue 17). Timestamps stay as they are in the
store: UTC wall-clock time without a zone (Parquet isAdjustedToUTC=false), read back unchanged
whatever a reader's time zone.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from core.logfiles.location import LogLocation

# What partitions each kind of log: (version column, day column). Labels belong to a request
# whatever version answered it; reference rows have no time.
PARTITIONS: dict[str, tuple[str | None, str | None]] = {
    "prediction": ("version", "ts"),
    "label": (None, "arrived_at"),
    "reference": ("version", None),
}
_BATCH_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_TEMPORARY_SUFFIX = ".tmp"


@dataclass(frozen=True)
class WrittenFile:
    """One Parquet file of a batch, written and flushed but not yet committed."""

    path: str  # relative to the log location, with forward slashes
    kind: str
    model_id: int
    version: int | None
    day: date | None
    rows: int
    bytes: int
    sha256: str


def partition_folder(kind: str, *, model_id: int, version: int | None, day: date | None) -> str:
    """The folder, relative to the location, of one partition's files."""
    parts = [f"kind={kind}", f"model={int(model_id)}"]
    if version is not None:
        parts.append(f"version={int(version)}")
    if day is not None:
        parts.append(f"day={day.isoformat()}")
    return "/".join(parts)


def write_files(
    con: Any,
    *,
    location: LogLocation,
    kind: str,
    model_id: int,
    batch_id: str,
    select_sql: str,
    params: Sequence[Any] = (),
) -> list[WrittenFile]:
    """Write the rows of SELECT_SQL as one Parquet file per partition; none are visible yet.

    CON is an embedded DuckDB connection. The SELECT runs once to list the partitions and once
    per partition: give it the accepted rows (a table or a cheap query), not a heavy join.
    """
    if kind not in PARTITIONS:
        raise ValueError(f"unknown log kind {kind!r}; one of {', '.join(PARTITIONS)}")
    if not _BATCH_ID.match(batch_id):
        raise ValueError(f"batch id {batch_id!r} cannot name a file")
    described = con.execute(f"DESCRIBE {select_sql}", list(params)).fetchall()
    types = {str(name): str(sql_type) for name, sql_type, *_ in described}
    version_column, day_column = PARTITIONS[kind]
    for needed in (version_column, day_column):
        if needed is not None and needed not in types:
            raise ValueError(f"{kind} rows need a {needed!r} column; the SELECT gives {[*types]}")
    projection = ", ".join(_stored(name, sql_type) for name, sql_type in types.items())
    source = f"(SELECT {projection} FROM ({select_sql}) AS accepted)"
    keys = [
        f"CAST({_ident(version_column)} AS INTEGER)" if version_column else "NULL",
        f"CAST({_ident(day_column)} AS DATE)" if day_column else "NULL",
    ]
    partitions = con.execute(
        f"SELECT {keys[0]}, {keys[1]}, count(*) FROM {source} GROUP BY ALL ORDER BY ALL",
        list(params),
    ).fetchall()
    for version, day, rows in partitions:
        if (version_column and version is None) or (day_column and day is None):
            raise ValueError(
                f"{rows} {kind} row(s) have no {version_column if version is None else day_column}"
            )
    # Row order decides the bytes; ingest turns order-keeping off for speed, so turn it on here.
    keep_order = con.execute("SELECT current_setting('preserve_insertion_order')").fetchall()
    con.execute("SET preserve_insertion_order = true")
    try:
        written = []
        for version, day, _ in partitions:
            where, values = _partition_filter(version_column, version, day_column, day)
            folder = partition_folder(kind, model_id=model_id, version=version, day=day)
            relative = f"{folder}/{batch_id}.parquet"
            rows, size, sha256 = _write_file(
                con,
                location=location,
                relative=relative,
                select=f"SELECT * FROM {source} WHERE {where}",
                params=[*params, *values],
            )
            written.append(WrittenFile(relative, kind, model_id, version, day, rows, size, sha256))
        return written
    finally:
        con.execute(f"SET preserve_insertion_order = {'true' if keep_order[0][0] else 'false'}")


def _partition_filter(
    version_column: str | None, version: int | None, day_column: str | None, day: date | None
) -> tuple[str, list[Any]]:
    """The WHERE clause and values selecting one partition's rows.

    The day is a range on the timestamp itself, not a cast to a date: the scan can then skip
    blocks by their min and max. 2M rows over 7 days took 4.3-4.8 CPU s to write this way,
    6.0-6.5 s with the cast, and 4.0-4.2 s as one file (bench/RESULTS.md, issue 17).
    """
    conditions: list[str] = ["true"]
    values: list[Any] = []
    if version_column:
        conditions.append(f"{_ident(version_column)} = ?")
        values.append(version)
    if day_column and day is not None:
        conditions.append(f"{_ident(day_column)} >= ? AND {_ident(day_column)} < ?")
        start = datetime.combine(day, datetime.min.time())
        values += [start, start + timedelta(days=1)]
    return " AND ".join(conditions), values


def _write_file(
    con: Any, *, location: LogLocation, relative: str, select: str, params: list[Any]
) -> tuple[int, int, str]:
    """Rows, size and SHA-256 of the file SELECT wrote at RELATIVE: under a temporary name
    renamed into place in a folder, or uploaded whole from a local temporary file to an object
    store (an object has no rename, and appears only once its upload is complete)."""
    if location.remote is None:
        final = location.path_of(relative)
        final.parent.mkdir(parents=True, exist_ok=True)
        temporary = final.with_name(f".{final.name}.{uuid.uuid4().hex[:12]}{_TEMPORARY_SUFFIX}")
    else:
        temporary = Path(tempfile.gettempdir()) / f"modelbridge-{uuid.uuid4().hex}.parquet"
    try:
        rows = con.execute(
            f"COPY ({select}) TO {_literal(str(temporary))} (FORMAT parquet, COMPRESSION snappy)",
            params,
        ).fetchall()[0][0]
        size, sha256 = _flush_and_hash(temporary)
        if location.remote is None:
            os.replace(temporary, final)
            _flush_folders(final.parent, up_to=location.folder)
        else:
            location.remote.put(temporary, relative)
    finally:
        temporary.unlink(missing_ok=True)
    return int(rows), size, sha256


def _stored(name: str, sql_type: str) -> str:
    """The column as written: a zoned timestamp becomes UTC wall-clock time, like the store's."""
    if sql_type == "TIMESTAMP WITH TIME ZONE":
        return f"timezone('UTC', {_ident(name)}) AS {_ident(name)}"
    return _ident(name)


def _flush_and_hash(path: Path) -> tuple[int, str]:
    """Size and SHA-256 of the file at PATH, after forcing its bytes to disk."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        os.fsync(f.fileno())
        while chunk := f.read(1 << 20):
            digest.update(chunk)
        size = f.tell()
    return size, digest.hexdigest()


def _flush_folders(folder: Path, *, up_to: Path) -> None:
    """Make the rename, and any folder made for it, survive a power cut."""
    while True:
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        if folder == up_to or folder.parent == folder:
            return
        folder = folder.parent


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"
