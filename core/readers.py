"""Read CSV, Parquet and JSON Lines files (optionally gzip-compressed, or stdin) into DuckDB.

A file becomes a temporary view of the current unit of work with its values as received plus
`__row`, the row's number in the file (1 = the first row after a CSV header; every line of a
JSON Lines file counts). Nothing is dropped silently: a record that cannot be parsed comes back
as a reject (row number, text as received, problem) for the caller to quarantine, and a file
that cannot be used as a whole raises FileProblem.

Text is read as UTF-8 (a BOM is skipped). A file that is not UTF-8 is transcoded first: as
UTF-16 when it starts with a UTF-16 BOM, else every byte sequence that is not UTF-8 is read as
Windows-1252. CSV files are read with an explicit RFC 4180 dialect (double quotes, doubled
inside quoted fields) and the delimiter given or found in the header line: DuckDB's sniffer is
not used because one broken line can make it settle on a wrong dialect for the whole file.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import hashlib
import io
import re
import shutil
import sys
import tempfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import duckdb
import pyarrow.parquet as pq

from core.errors import FileProblem, InvalidInput

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
DELIMITERS = (",", ";", "\t", "|")
_DELIMITER_NAMES = {"\\t": "\t", "tab": "\t", "comma": ",", "semicolon": ";", "pipe": "|"}
MAX_RECORD_BYTES = 16 << 20  # a longer record is quarantined with its first 10,000 characters
INTERNAL = ("__row", "__text")
_CHUNK = 1 << 20
_GZIP_ERRORS = (OSError, EOFError, zlib.error)
_TRANSCODE_ERRORS = "modelbridge-cp1252"
_CP1252_UNDEFINED = {0x81, 0x8D, 0x8F, 0x90, 0x9D}
_LONE_CR = re.compile("\r(?!\n)")
_CR = re.compile("\r\n?")
_BARE_LF = re.compile("(?<!\r)\n")
_LINE_BREAK = re.compile(b"\r\n|\r|\n")
_REJECTED_LINE = "trim(COALESCE(any_value(csv_line), ''), chr(13) || chr(10))"
_CR_STANDINS = ("\uf8fd", "\uf8fe", "\uf8ff")  # private-use characters


def _bytes_as_cp1252(exc: UnicodeError) -> tuple[str, int]:
    if not isinstance(exc, UnicodeDecodeError):
        raise exc
    bad = exc.object[exc.start : exc.end]
    # cp1252 leaves five bytes undefined; Latin-1 maps them to the same code points.
    text = "".join(chr(b) if b in _CP1252_UNDEFINED else bytes([b]).decode("cp1252") for b in bad)
    return text, exc.end


codecs.register_error(_TRANSCODE_ERRORS, _bytes_as_cp1252)


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


def sha256_of(path: Path) -> str:
    """Hex sha256 of a file's bytes, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(_CHUNK), b""):
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


def delimiter_of(text: str | None) -> str | None:
    """A CSV delimiter as typed on a command line ('\\t' and 'tab' mean a tab), checked."""
    if text is None:
        return None
    value = _DELIMITER_NAMES.get(text.lower(), text)
    if len(value) != 1 or value in '"\r\n':
        raise InvalidInput(
            f"--delimiter must be one character other than a quote or a line break, not {text!r}"
        )
    return value


def detect_format(path: Path, declared: str | None = None) -> tuple[str, bool]:
    """Return (format, gzipped) from the declared format, the file name, or the first bytes."""
    if declared and declared not in FORMATS:
        raise InvalidInput(f"unknown format {declared!r}; use one of {', '.join(FORMATS)}")
    with path.open("rb") as fh:
        head = fh.read(4)
    gz = head[:2] == b"\x1f\x8b"
    if gz:
        try:
            with gzip.open(path, "rb") as fh:
                head = fh.read(4)
        except _GZIP_ERRORS as exc:
            raise FileProblem(f"{path}: damaged gzip file ({exc})") from None
    if declared:
        return declared, gz
    suffixes = [s.lower() for s in path.suffixes if s.lower() != ".gz"]
    by_name = _SUFFIXES.get(suffixes[-1]) if suffixes else None
    if head.startswith(b"PAR1"):
        return "parquet", gz
    if by_name:
        return by_name, gz
    if head.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] in (b"{", b"["):
        return "jsonl", gz
    return "csv", gz


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
                text = _as_text(path, gz, workdir, name, quoted=kind == "csv")
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


def _open_bytes(path: Path, gz: bool) -> IO[bytes]:
    return gzip.open(path, "rb") if gz else path.open("rb")


@dataclass(frozen=True)
class _Text:
    """A text file as DuckDB can read it: UTF-8, with a stand-in for carriage returns in values."""

    path: Path
    gz: bool
    standin: str | None = None  # replaces each CR that is not a line break; restored in SQL
    warnings: tuple[str, ...] = ()

    def restore(self, expr: str) -> str:
        """SQL giving back the carriage returns the stand-in replaced in EXPR."""
        return f"replace({expr}, {quote_literal(self.standin)}, chr(13))" if self.standin else expr


def _decoded(path: Path, gz: bool, encoding: str, errors: str) -> Iterator[str]:
    decoder = codecs.getincrementaldecoder(encoding)(errors=errors)
    with _open_bytes(path, gz) as fh:
        for chunk in iter(lambda: fh.read(_CHUNK), b""):
            yield decoder.decode(chunk)
    yield decoder.decode(b"", final=True)


def _without_trailing_cr(chunks: Iterator[str]) -> Iterator[str]:
    """The chunks again, a CR at a chunk's end moved to the next so CRLF is never split."""
    carry = ""
    for chunk in chunks:
        text, carry = carry + chunk, ""
        if text.endswith("\r"):
            text, carry = text[:-1], "\r"
        yield text
    if carry:
        yield carry


def _as_text(path: Path, gz: bool, workdir: Path, name: str, *, quoted: bool) -> _Text:
    """PATH when DuckDB can read it as it is, else a normalised UTF-8 copy in WORKDIR.

    DuckDB 2.0's CSV reader fails on a whole file when its line breaks are mixed (LF and CRLF)
    or when a CR that is not a line break sits in a value, so such files are copied with every
    line break outside quotes as LF and such CRs swapped for a character the file does not
    hold (swapped back in SQL). Files whose line breaks are bare CRs are read as they are.
    QUOTED says whether line breaks can sit inside quoted fields (CSV) or not (JSON Lines).
    """
    with _open_bytes(path, gz) as fh:
        utf16 = fh.read(2) in (b"\xff\xfe", b"\xfe\xff")
    encoding, errors = ("utf-16", "strict") if utf16 else ("utf-8", "strict")
    warnings = [f"{name}: read as UTF-16 (byte-order mark)"] if utf16 else []
    try:
        try:
            shape = _scan(_decoded(path, gz, encoding, errors))
        except UnicodeDecodeError:
            if utf16:
                raise
            errors = _TRANSCODE_ERRORS
            warnings.append(f"{name}: not UTF-8; bytes that are not were read as Windows-1252")
            shape = _scan(_decoded(path, gz, encoding, errors))
        if not (warnings or shape.mixed):
            return _Text(path, gz)
        standin = (shape.standin or _no_standin(name)) if shape.mixed else None
        out = workdir / "text.txt"
        inside = False
        with out.open("w", encoding="utf-8", newline="") as dst:
            for text in _without_trailing_cr(_decoded(path, gz, encoding, errors)):
                if standin and "\r" in text:
                    text, inside = _normalise(text, inside, standin, quoted)
                elif standin and quoted:
                    inside ^= text.count('"') % 2 == 1
                dst.write(text)
    except UnicodeDecodeError as exc:
        raise FileProblem(f"{name}: not valid {encoding.upper()} text ({exc.reason})") from None
    except _GZIP_ERRORS as exc:
        raise FileProblem(f"{name}: damaged gzip file ({exc})") from None
    return _Text(out, False, standin, tuple(warnings))


@dataclass(frozen=True)
class _Shape:
    """What a first pass over a text file found."""

    mixed: bool  # line breaks DuckDB cannot read as they are
    standin: str | None  # a CR stand-in the text does not hold


def _scan(chunks: Iterator[str]) -> _Shape:
    lone_cr = crlf = bare_lf = False
    first, absent = "", set(_CR_STANDINS)
    for text in _without_trailing_cr(chunks):
        if not first and ("\r" in text or "\n" in text):
            cut = min(i for i in (text.find("\r"), text.find("\n")) if i >= 0)
            first = "\n" if text.startswith("\r\n", cut) else text[cut]
        if "\r" in text:
            lone_cr = lone_cr or _LONE_CR.search(text) is not None
            crlf = crlf or "\r\n" in text
            bare_lf = bare_lf or _BARE_LF.search(text) is not None
        absent -= {c for c in absent if c in text}
    mixed = first != "\r" and (lone_cr or (crlf and bare_lf))
    return _Shape(mixed, min(absent) if absent else None)


def _normalise(text: str, inside: bool, standin: str, quoted: bool) -> tuple[str, bool]:
    """TEXT with CRLF outside quotes as LF and other CRs as STANDIN; INSIDE: in a quoted field.

    Quote parity tells inside from outside (a doubled quote flips it twice); only the CRs are
    visited in Python, the quotes between them are counted in C.
    """
    out, last = [], 0
    for match in _CR.finditer(text):
        inside ^= quoted and text.count('"', last, match.start()) % 2 == 1
        out.append(text[last : match.start()])
        if match.group() != "\r\n":
            out.append(standin)
        else:
            out.append("\r\n" if inside else "\n")
        last = match.end()
    inside ^= quoted and text.count('"', last) % 2 == 1
    out.append(text[last:])
    return "".join(out), inside


def _no_standin(name: str) -> str:
    raise FileProblem(
        f"{name}: holds carriage returns inside values and every stand-in character "
        f"{list(_CR_STANDINS)}; it cannot be read"
    )


def _header(path: Path, gz: bool, delimiter: str | None, name: str) -> tuple[list[str], str]:
    with _open_bytes(path, gz) as fh:
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
    db: Any, text: _Text, delimiter: str | None, table: str, data: str, rejects: str, name: str
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


def _compression(text: _Text) -> str:
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


def _load_jsonl(db: Any, text: _Text, table: str, data: str, rejects: str, name: str) -> None:
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
        f"SELECT DISTINCT unnest(json_keys(text)) FROM {lines}__kind WHERE is_object"
    ).fetchall()
    names = sorted(k[0] for k in keys)
    if not names:
        raise FileProblem(f"{name}: no JSON objects found; is this a JSON Lines file?")
    _check_names(names, name)
    paths = [f"$.{_json_path_key(n)}" for n in names]
    picks = ", ".join(f"v[{i}] AS {quote_ident(n)}" for i, n in enumerate(names, start=1))
    db.execute(
        f"CREATE OR REPLACE TEMP TABLE {data} AS SELECT {picks}, __row, text AS __text FROM "
        f"(SELECT __row, text, json_extract_string(text, ?) AS v FROM {lines}__kind "
        "WHERE is_object) ORDER BY __row",
        [paths],
    )
    db.execute(f"CREATE OR REPLACE TEMP VIEW {table} AS SELECT * FROM {data}")


def _load_parquet(db: Any, path: Path, gz: bool, table: str, workdir: Path, name: str) -> None:
    if gz:
        unzipped = workdir / "unzipped.parquet"
        try:
            with gzip.open(path, "rb") as src, unzipped.open("wb") as dst:
                shutil.copyfileobj(src, dst)
        except _GZIP_ERRORS as exc:
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


def json_sql(columns: dict[str, str]) -> str:
    """SQL for the named columns of a row as JSON text (NaN, inf and nested values as text)."""
    parts = []
    for n, duck_type in columns.items():
        col, kind = quote_ident(n), duck_type.upper()
        if kind in ("FLOAT", "DOUBLE", "REAL"):
            value = (
                f"CASE WHEN isfinite({col}) THEN to_json({col}) "
                f"ELSE to_json(CAST({col} AS VARCHAR)) END"
            )
        elif kind.endswith("]") or kind.startswith(("STRUCT", "MAP", "UNION")):
            value = f"CAST({col} AS VARCHAR)"
        else:
            value = col
        parts.append(f"{col} := {value}")
    return f"CAST(to_json(struct_pack({', '.join(parts)})) AS VARCHAR)"


def _json_path_key(name: str) -> str:
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def quote_ident(name: str) -> str:
    """Quote an identifier for DuckDB SQL (doubling embedded quotes)."""
    return '"' + name.replace('"', '""') + '"'


def quote_literal(text: str) -> str:
    """Quote a string literal for DuckDB SQL (doubling embedded quotes)."""
    return "'" + text.replace("'", "''") + "'"
