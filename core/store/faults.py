"""What is at a store's path, and DuckDB's failures as messages a person can act on."""

from __future__ import annotations

from pathlib import Path

import duckdb

from core.errors import StoreFault

# Every DuckDB database file carries these bytes at offset 8 (checked on files written by
# DuckDB 2.0). DuckDB 2.0 opens some other files, a CSV for one, as an empty in-memory
# database without complaint; the header is what tells a store from any other file.
_DUCKDB_MAGIC = b"DUCK"
_MAGIC_AT = 8


def file_kind(path: Path) -> str:
    """'missing', 'folder', 'unreadable', 'empty', 'duckdb' or 'other': what is at PATH."""
    if path.is_dir():
        return "folder"
    try:
        with path.open("rb") as f:
            head = f.read(_MAGIC_AT + len(_DUCKDB_MAGIC))
    except FileNotFoundError:
        return "missing"
    except PermissionError:
        return "unreadable"  # DuckDB's own error says so; _connect turns it into one line
    if not head:
        return "empty"
    return "duckdb" if head[_MAGIC_AT:] == _DUCKDB_MAGIC else "other"


# What DuckDB says when the file or its disk fails, and what a person can do about it.
_FAULTS = (
    (
        ("Could not read enough bytes", "Corrupt", "checksum", "not a valid DuckDB database"),
        "the store file {path} is damaged (truncated or corrupt); nothing was changed. Restore "
        "it from a backup, or point --db / MODELBRIDGE_DB at another store",
    ),
    (
        ("No space left on device", "Disk full", "out of disk space"),
        "the disk holding {path} is full; the change was rolled back whole, so nothing is "
        "half-written. Free some space and run it again",
    ),
    (
        ("Read-only file system", "read-only mode"),
        "the store {path} is on a read-only file system, so this cannot change it; reading "
        "commands still work",
    ),
)


def store_fault(exc: BaseException, path: Path) -> StoreFault | None:
    """The plain account of a failed file or disk behind EXC, or None when it is something else."""
    text = str(getattr(exc, "orig", None) or exc)
    if is_lock_conflict(text):
        # The lock message may add "you would be able to open this database in read-only
        # mode": another process holds the file, which is a wait, not a read-only disk.
        return None
    for needles, message in _FAULTS:
        if any(n in text for n in needles):
            return StoreFault(message.format(path=path))
    return None


def is_lock_conflict(exc: BaseException | str) -> bool:
    """Whether EXC says another process holds the file."""
    text = str(exc)
    return "Could not set lock" in text or "Conflicting lock" in text


def duckdb_error(exc: BaseException) -> duckdb.Error | None:
    """The DuckDB error behind EXC (SQLAlchemy wraps it in `orig`), None when it is another."""
    found = getattr(exc, "orig", None) or exc
    return found if isinstance(found, duckdb.Error) else None
