"""Files to read, and the SQL that names what they hold.

A source is a local path or '-' (standard input, spooled to a temporary file). Its format comes
from the declared one, the file name or the first bytes (looking inside gzip), and a CSV
delimiter may be typed by name. core.files.loading loads the file into DuckDB; json_sql,
quote_ident and quote_literal write the SQL that refers to its columns and values.
"""

from __future__ import annotations

import gzip
import hashlib
import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from core.errors import FileProblem, InvalidInput
from core.files.plain_text import GZIP_ERRORS

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
_CHUNK = 1 << 20


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
        except GZIP_ERRORS as exc:
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


def quote_ident(name: str) -> str:
    """Quote an identifier for DuckDB SQL (doubling embedded quotes)."""
    return '"' + name.replace('"', '""') + '"'


def quote_literal(text: str) -> str:
    """Quote a string literal for DuckDB SQL (doubling embedded quotes)."""
    return "'" + text.replace("'", "''") + "'"
