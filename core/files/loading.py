"""Load CSV, Parquet and JSON Lines files (optionally gzip-compressed) into DuckDB.

A file becomes a temporary view of the current unit of work with its values as received plus
`__row`, the row's number in the file (1 = the first row after a CSV header; every line of a
JSON Lines file counts). Nothing is dropped silently: a record that cannot be parsed comes back
as a reject (row number, text as received, problem) for the caller to quarantine, and a file
that cannot be used as a whole raises FileProblem.

Text files first go through core.files.plain_text (encodings, mixed line breaks). CSV files are
then read with an explicit RFC 4180 dialect (double quotes, doubled inside quoted fields) and
the delimiter given or found in the header line: DuckDB's sniffer is not used because one
broken line can make it settle on a wrong dialect for the whole file.
"""

from __future__ import annotations

import csv
import gzip
import io
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pyarrow.parquet as pq

from core.errors import FileProblem
from core.files.plain_text import GZIP_ERRORS, TextFile, as_text, open_bytes
from core.files.sources import (
    DELIMITERS,
    delimiter_of,
    detect_format,
    json_sql,
    quote_ident,
    quote_literal,
)

MAX_RECORD_BYTES = 16 << 20  # a longer record is quarantined with its first 10,000 characters
INTERNAL = ("__row", "__text")
_LINE_BREAK = re.compile(b"\r\n|\r|\n")
_REJECTED_LINE = "trim(COALESCE(any_value(csv_line), ''), chr(13) || chr(10))"


@dataclass(frozen=True)
class RawTable:
    """A file loaded for one unit of work: a view of its rows and the records that did not parse.

    `rejects` holds (row number, text as received, problem), one per record; parsed rows carry
    their number in `__row`. `raw_sql` is an SQL expression over the view giving a row as
    received, as JSON text.
    """

    table: str
    source: str
    fmt: str
    columns: dict[str, str]
    rows: int
    rejects: list[tuple[int, str, str]]
    rejects_table: str = ""
    raw_sql: str = "NULL"
    warnings: tuple[str, ...] = ()


def load_file(
    db: Any,
    path: Path,
    *,
    table: str,
    fmt: str | None = None,
    delimiter: str | None = None,
    source_name: str | None = None,
) -> RawTable:
    """Load PATH as view TABLE with values as received; raise FileProblem if it is unusable.

    PATH must stay readable until the unit of work ends (a Parquet file is read in place).
    """
    name = source_name or str(path)
    if path.stat().st_size == 0:
        raise FileProblem(f"{name}: the file is empty")
    kind, gz = detect_format(path, fmt)
    delim = delimiter_of(delimiter)
    data, rejects = f"{table}__data", f"{table}__rejects"
    db.execute(
        f"CREATE OR REPLACE TEMP TABLE {rejects} (row BIGINT, text VARCHAR, problem VARCHAR)"
    )
    warnings: list[str] = []
    with tempfile.TemporaryDirectory(prefix="modelbridge-read-") as folder:
        workdir = Path(folder)
        try:
            if kind == "parquet":
                _load_parquet(db, path, gz, table, workdir, name)
            else:
                text = as_text(path, gz, workdir, name, quoted=kind == "csv")
                warnings = list(text.warnings)
                if kind == "csv":
                    _load_csv(db, text, delim, table, data, rejects, name)
                else:
                    _load_jsonl(db, text, table, data, rejects, name)
        except duckdb.OutOfMemoryException:
            raise
        except duckdb.Error as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise FileProblem(f"{name}: cannot be read as {kind.upper()} ({first})") from None
    columns = {
        r[0]: r[1] for r in db.execute(f"DESCRIBE {table}").fetchall() if r[0] not in INTERNAL
    }
    if not columns:
        raise FileProblem(f"{name}: no columns found")
    rows = db.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0]
    found = [
        (int(row), text, problem)
        for row, text, problem in db.execute(
            f"SELECT row, text, problem FROM {rejects} ORDER BY row"
        ).fetchall()
    ]
    if rows == 0 and not found:
        raise FileProblem(f"{name}: no data rows (only a header?)")
    raw_sql = "__text" if kind == "jsonl" else json_sql(columns)
    return RawTable(table, name, kind, columns, rows, found, rejects, raw_sql, tuple(warnings))


def _check_names(names: list[str], name: str) -> None:
    lowered = [n.lower() for n in names]
    dupes = sorted({n for n in names if lowered.count(n.lower()) > 1})
    if dupes:
        raise FileProblem(f"{name}: duplicate column names {dupes}; rename them")
    reserved = sorted(set(names) & set(INTERNAL))
    if reserved:
        raise FileProblem(f"{name}: column name(s) {reserved} are reserved; rename them")


def _header(path: Path, gz: bool, delimiter: str | None, name: str) -> tuple[list[str], str]:
    with open_bytes(path, gz) as fh:
        head = fh.read(1 << 16)
        while not _LINE_BREAK.search(head) and len(head) < MAX_RECORD_BYTES:
            more = fh.read(1 << 16)
            if not more:
                break
            head += more
    first = _LINE_BREAK.split(head, maxsplit=1)[0]
    line = first.decode("utf-8", errors="replace").lstrip("\ufeff")
    if not line.strip():
        raise FileProblem(f"{name}: the first line is empty; a CSV file needs a header line")
    if delimiter is None:
        outside = "".join(line.split('"')[::2])  # text outside quoted names
        delimiter = max(DELIMITERS, key=outside.count)
    try:
        cells = next(csv.reader(io.StringIO(line), delimiter=delimiter, quotechar='"'))
    except csv.Error as exc:
        raise FileProblem(f"{name}: cannot read the header line ({exc})") from None
    names = [c.strip() or f"column{i}" for i, c in enumerate(cells)]
    _check_names(names, name)
    return names, delimiter


def _load_csv(
    db: Any, text: TextFile, delimiter: str | None, table: str, data: str, rejects: str, name: str
) -> None:
    names, delimiter = _header(text.path, text.gz, delimiter, name)
    errors, scans = f"{table}__errors", f"{table}__scans"
    db.execute(
        f"CREATE OR REPLACE TEMP TABLE {data} AS SELECT * FROM read_csv(?, columns = ?, "
        "header = true, auto_detect = false, delim = ?, quote = '\"', escape = '\"', "
        f"store_rejects = true, rejects_table = '{errors}', rejects_scan = '{scans}', "
        f"max_line_size = {MAX_RECORD_BYTES}, compression = ?)",
        [str(text.path), dict.fromkeys(names, "VARCHAR"), delimiter, _compression(text)],
    )
    # One reject per record (a record can break several rules). DuckDB counts the header as
    # line 1, so line - 1 is the data row number, the numbering of __row.
    db.execute(
        f"INSERT INTO {rejects} SELECT line - 1, "
        f"{text.restore(_REJECTED_LINE)}, "
        "string_agg(error_type || ': ' || error_message, '; ' ORDER BY byte_position) "
        f"FROM {errors} GROUP BY line"
    )
    db.execute(f"DROP TABLE {errors}")
    db.execute(f"DROP TABLE {scans}")
    values = ", ".join(f"{text.restore(quote_ident(n))} AS {quote_ident(n)}" for n in names)
    _number_rows(db, table, data, rejects, values if text.standin else "d.*")


def _compression(text: TextFile) -> str:
    return "gzip" if text.gz else "none"


def _number_rows(db: Any, table: str, data: str, rejects: str, values: str = "d.*") -> None:
    """View TABLE over DATA with __row, counting the rejected records between parsed rows."""
    # Inside a transaction a new table's rowids start at a large offset, not at 0.
    offset = db.execute(f"SELECT COALESCE(min(rowid), 0) FROM {data}").fetchall()[0][0]
    position = f"(d.rowid - {int(offset)})"
    if not db.execute(f"SELECT count(*) FROM {rejects}").fetchall()[0][0]:
        db.execute(
            f"CREATE OR REPLACE TEMP VIEW {table} AS SELECT {values}, {position} + 1 AS __row "
            f"FROM {data} d"
        )
        return
    # The k-th reject (by row) follows row - k parsed rows; a parsed row at position p comes
    # after every reject whose count of preceding parsed rows is <= p.
    db.execute(
        f"CREATE OR REPLACE TEMP TABLE {table}__gaps AS SELECT before, max(k) AS k FROM ("
        f"SELECT row - row_number() OVER (ORDER BY row) AS before, row_number() OVER "
        f"(ORDER BY row) AS k FROM {rejects}) GROUP BY before"
    )
    db.execute(
        f"CREATE OR REPLACE TEMP VIEW {table} AS SELECT {values}, "
        f"{position} + 1 + COALESCE(g.k, 0) AS __row "
        f"FROM {data} d ASOF LEFT JOIN {table}__gaps g ON {position} >= g.before"
    )


def _load_jsonl(db: Any, text: TextFile, table: str, data: str, rejects: str, name: str) -> None:
    # Lines are read as text first so that one broken line cannot break the file: every
    # line that is not a JSON object is kept as a reject, blank lines are skipped.
    lines, errors, scans = f"{table}__lines", f"{table}__errors", f"{table}__scans"
    db.execute(
        f"CREATE OR REPLACE TEMP TABLE {lines}__data AS SELECT text FROM read_csv(?, "
        "columns = {'text': 'VARCHAR'}, header = false, auto_detect = false, delim = '', "
        f"quote = '', escape = '', store_rejects = true, rejects_table = '{errors}', "
        f"rejects_scan = '{scans}', max_line_size = {MAX_RECORD_BYTES}, compression = ?)",
        [str(text.path), _compression(text)],
    )
    db.execute(
        f"INSERT INTO {rejects} SELECT line, {text.restore(_REJECTED_LINE)}, "
        f"any_value(error_type || ': ' || error_message) FROM {errors} GROUP BY line"
    )
    db.execute(f"DROP TABLE {errors}")
    db.execute(f"DROP TABLE {scans}")
    _number_rows(db, lines, f"{lines}__data", rejects, f"{text.restore('text')} AS text")
    is_object = "CASE WHEN json_valid(text) THEN json_type(text) = 'OBJECT' END"
    db.execute(
        f"CREATE OR REPLACE TEMP TABLE {lines}__kind AS SELECT __row, text, "
        f"COALESCE({is_object}, false) AS is_object FROM {lines} "
        "WHERE text IS NOT NULL AND trim(text) <> ''"
    )
    db.execute(
        f"INSERT INTO {rejects} SELECT __row, text, CASE WHEN json_valid(text) "
        f"THEN 'not a JSON object' ELSE 'invalid JSON' END FROM {lines}__kind WHERE NOT is_object"
    )
    keys = db.execute(
        f"SELECT k, count(*) FROM (SELECT unnest(json_keys(text)) AS k FROM {lines}__kind "
        "WHERE is_object) GROUP BY k"
    ).fetchall()
    if not keys:
        raise FileProblem(f"{name}: no JSON objects found; is this a JSON Lines file?")
    columns = _json_columns(keys)
    # JSON pointers, not $.paths: a pointer can name any key, the empty one included.
    paths = ["/" + k.replace("~", "~0").replace("/", "~1") for k in columns]
    picks = ", ".join(
        f"v[{i}] AS {quote_ident(c)}" for i, c in enumerate(columns.values(), start=1)
    )
    db.execute(
        f"CREATE OR REPLACE TEMP TABLE {data} AS SELECT {picks}, __row, text AS __text FROM "
        f"(SELECT __row, text, json_extract_string(text, ?) AS v FROM {lines}__kind "
        "WHERE is_object) ORDER BY __row",
        [paths],
    )
    db.execute(f"CREATE OR REPLACE TEMP VIEW {table} AS SELECT * FROM {data}")


def _json_columns(counted: list[tuple[str, int]]) -> dict[str, str]:
    """A column name per JSON key: the key, unless it is empty, reserved, or differs only in
    case from a key more lines have, or as many and in lower case (DuckDB names ignore case);
    those get a suffix."""
    taken: set[str] = set()
    columns = {}
    for key, _ in sorted(counted, key=lambda kc: (-kc[1], kc[0] != kc[0].lower(), kc[0])):
        column, n = key or "column", 1
        while column.lower() in taken or column in INTERNAL:
            n += 1
            column = f"{key or 'column'}_{n}"
        taken.add(column.lower())
        columns[key] = column
    return dict(sorted(columns.items(), key=lambda kc: kc[1]))


def _load_parquet(db: Any, path: Path, gz: bool, table: str, workdir: Path, name: str) -> None:
    if gz:
        unzipped = workdir / "unzipped.parquet"
        try:
            with gzip.open(path, "rb") as src, unzipped.open("wb") as dst:
                shutil.copyfileobj(src, dst)
        except GZIP_ERRORS as exc:
            raise FileProblem(f"{name}: damaged gzip file ({exc})") from None
        path = unzipped
    try:
        metadata = pq.ParquetFile(path).metadata
    except Exception as exc:  # pyarrow raises several types for a damaged footer
        raise FileProblem(f"{name}: cannot be read as PARQUET ({exc})") from None
    _check_names(metadata.schema.to_arrow_schema().names, name)
    # Parquet min/max statistics leave NaN out; without can_have_nan DuckDB trusts them and
    # folds isnan(x) to false (duckdb/duckdb#25521), so NaN would pass for a number.
    scan = f"read_parquet({quote_literal(str(path))}, file_row_number = true, can_have_nan = true)"
    if gz:  # the unzipped copy goes away with WORKDIR: keep the rows
        db.execute(f"CREATE OR REPLACE TEMP TABLE {table}__data AS SELECT * FROM {scan}")
        scan = f"{table}__data"
    else:
        scan = _sliced(db, scan, metadata.num_rows, metadata.num_row_groups)
    db.execute(
        f"CREATE OR REPLACE TEMP VIEW {table} AS SELECT * EXCLUDE (file_row_number), "
        f"file_row_number + 1 AS __row FROM {scan}"
    )


def _sliced(db: Any, scan: str, rows: int, row_groups: int) -> str:
    """SQL reading a Parquet scan as one slice of rows per thread, so every pass is parallel.

    DuckDB splits a Parquet scan by row group only: a file written as one big row group
    (pandas' and pyarrow's default up to a million rows) would keep every later pass, the
    insert above all, on one core. A UNION ALL of row ranges gives each thread its own scan.
    """
    threads = int(db.execute("SELECT current_setting('threads')").fetchall()[0][0])
    if row_groups >= 2 * threads or rows < 100_000:
        return scan
    cuts = [rows * k // threads for k in range(threads + 1)]
    parts = [
        f"SELECT * FROM {scan} WHERE file_row_number >= {lo} AND file_row_number < {hi}"
        for lo, hi in zip(cuts, cuts[1:], strict=False)
    ]
    return "(" + " UNION ALL ".join(parts) + ")"
