"""Read CSV, Parquet and JSON Lines files (optionally gzip-compressed, or stdin) into DuckDB.

Files land in a temporary table of the current unit of work with their values as received,
plus `__row`, the 1-based data row number. CSV rows that cannot be parsed are not dropped:
DuckDB's reject table hands them back so the caller can quarantine them.
"""

from __future__ import annotations

import gzip
import hashlib
import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from core.errors import FileProblem

FORMATS = ("csv", "parquet", "jsonl")
_SUFFIXES = {
    ".csv": "csv",
    ".tsv": "csv",
    ".txt": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
}


@dataclass(frozen=True)
class RawTable:
    """A file loaded into a temporary table, with the CSV rows DuckDB could not parse."""

    table: str
    source: str
    fmt: str
    columns: dict[str, str]
    rows: int
    rejects: list[tuple[int, str, str]]


def sha256_of(path: Path) -> str:
    """Hex sha256 of a file's bytes, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


@contextmanager
def local_file(source: str | Path) -> Iterator[Path]:
    """Yield a readable path for SOURCE; '-' spools standard input to a temporary file."""
    if str(source) != "-":
        path = Path(source)
        if not path.exists():
            raise FileProblem(f"{path}: no such file")
        if not path.is_file():
            raise FileProblem(f"{path}: not a file")
        yield path
        return
    with tempfile.NamedTemporaryFile(prefix="modelbridge-stdin-", delete=True) as tmp:
        shutil.copyfileobj(sys.stdin.buffer, tmp)
        tmp.flush()
        yield Path(tmp.name)


def detect_format(path: Path, declared: str | None = None) -> tuple[str, bool]:
    """Return (format, gzipped) from the declared format, the file name, or the first bytes."""
    with path.open("rb") as fh:
        head = fh.read(4)
    gz = head[:2] == b"\x1f\x8b"
    if gz:
        with gzip.open(path, "rb") as fh:
            try:
                head = fh.read(4)
            except OSError as exc:
                raise FileProblem(f"{path}: damaged gzip file ({exc})") from None
    if declared:
        if declared not in FORMATS:
            raise FileProblem(f"unknown format {declared!r}; use one of {', '.join(FORMATS)}")
        return declared, gz
    suffixes = [s.lower() for s in path.suffixes if s.lower() != ".gz"]
    by_name = _SUFFIXES.get(suffixes[-1]) if suffixes else None
    if head.startswith(b"PAR1"):
        return "parquet", gz
    if by_name:
        return by_name, gz
    if head.lstrip()[:1] in (b"{", b"["):
        return "jsonl", gz
    return "csv", gz


def _gunzip_parquet(path: Path, workdir: Path) -> Path:
    out = workdir / "unzipped.parquet"
    with gzip.open(path, "rb") as src, out.open("wb") as dst:
        shutil.copyfileobj(src, dst)
    return out


def load_file(
    db: Any,
    path: Path,
    *,
    table: str,
    fmt: str | None = None,
    delimiter: str | None = None,
    source_name: str | None = None,
) -> RawTable:
    """Load PATH into temporary TABLE with values as received; raise FileProblem if unusable."""
    name = source_name or str(path)
    if path.stat().st_size == 0:
        raise FileProblem(f"{name}: the file is empty")
    kind, gz = detect_format(path, fmt)
    rejects: list[tuple[int, str, str]] = []
    with tempfile.TemporaryDirectory(prefix="modelbridge-read-") as workdir:
        try:
            if kind == "csv":
                rejects = _load_csv(db, path, table, delimiter, gz)
            elif kind == "parquet":
                readable = _gunzip_parquet(path, Path(workdir)) if gz else path
                db.execute(
                    f"CREATE OR REPLACE TEMP TABLE {table} AS SELECT * FROM read_parquet(?)",
                    [str(readable)],
                )
            else:
                _load_jsonl(db, path, table)
        except FileProblem:
            raise
        except (duckdb.Error, UnicodeDecodeError, OSError) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise FileProblem(f"{name}: cannot be read as {kind.upper()} ({first})") from None
    described = db.execute(f"DESCRIBE {table}").fetchall()
    columns = {r[0]: r[1] for r in described}
    if not columns:
        raise FileProblem(f"{name}: no columns found")
    dupes = sorted({c for c in columns if c.lower() in _dupe_names(list(columns))})
    if dupes:
        raise FileProblem(f"{name}: duplicate column names {dupes}; rename them")
    rows = db.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0]
    if rows == 0 and not rejects:
        raise FileProblem(f"{name}: no data rows (only a header?)")
    db.execute(f"ALTER TABLE {table} ADD COLUMN __row BIGINT")
    db.execute(f"UPDATE {table} SET __row = rowid + 1")
    return RawTable(table, name, kind, columns, rows, rejects)


def _dupe_names(names: list[str]) -> set[str]:
    # DuckDB renames repeated headers to name_1, name_2; a CSV with both is a duplicate header.
    lowered = [n.lower() for n in names]
    dupes = {n for n in lowered if lowered.count(n) > 1}
    for n in lowered:
        base, _, suffix = n.rpartition("_")
        if suffix.isdigit() and base in lowered:
            dupes.add(n)
    return dupes


def _load_csv(db: Any, path: Path, table: str, delimiter: str | None, gz: bool) -> list:
    options = ["all_varchar = true", "store_rejects = true", "header = true"]
    params: list[Any] = [str(path)]
    if delimiter:
        options.append("delim = ?")
        params.append(delimiter)
    if gz:
        options.append("compression = 'gzip'")
    db.execute(
        f"CREATE OR REPLACE TEMP TABLE {table} AS SELECT * FROM read_csv(?, {', '.join(options)})",
        params,
    )
    found = db.execute(
        "SELECT line, COALESCE(csv_line, ''), error_type || ': ' || error_message "
        "FROM reject_errors ORDER BY line"
    ).fetchall()
    db.execute("DELETE FROM reject_errors")
    db.execute("DELETE FROM reject_scans")
    return [(int(line), raw, reason) for line, raw, reason in found]


def _load_jsonl(db: Any, path: Path, table: str) -> None:
    # One JSON object per line, kept as text so junk in one record cannot break the file.
    db.execute(
        "CREATE OR REPLACE TEMP TABLE __json_lines AS "
        "SELECT json AS obj FROM read_json_objects(?, format = 'newline_delimited')",
        [str(path)],
    )
    keys = db.execute(
        "SELECT DISTINCT unnest(json_keys(obj)) FROM __json_lines WHERE json_type(obj) = 'OBJECT'"
    ).fetchall()
    names = sorted({k[0] for k in keys})
    if not names:
        raise FileProblem(f"{path}: no JSON objects found")
    projections = ", ".join(
        f"obj ->> {quote_literal('$.' + _json_path_key(n))} AS {quote_ident(n)}" for n in names
    )
    db.execute(f"CREATE OR REPLACE TEMP TABLE {table} AS SELECT {projections} FROM __json_lines")


def _json_path_key(name: str) -> str:
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def quote_ident(name: str) -> str:
    """Quote an identifier for DuckDB SQL (doubling embedded quotes)."""
    return '"' + name.replace('"', '""') + '"'


def quote_literal(text: str) -> str:
    """Quote a string literal for DuckDB SQL (doubling embedded quotes)."""
    return "'" + text.replace("'", "''") + "'"
