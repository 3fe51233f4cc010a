"""Reading committed log files: a DuckDB view over exactly the files the catalog lists."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from typing import Any

from core.errors import StoreFault
from core.logfiles.location import LogLocation

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
SQL_TYPES = {"VARCHAR", "DOUBLE", "INTEGER", "BIGINT", "BOOLEAN", "DATE", "TIMESTAMP"}


def committed_view(
    con: Any,
    *,
    location: LogLocation,
    name: str,
    files: Iterable[str],
    columns: Mapping[str, str],
) -> None:
    """Create the temporary view NAME over the committed FILES with typed COLUMNS, in order.

    FILES are catalog paths relative to LOCATION; nothing else under the location is read. A
    column missing from a file (a feature added after it was written) reads as NULL, columns
    not asked for are left out, and no files give an empty view with the same columns. A
    listed file that is not there is a damaged store (StoreFault), not a bug.
    """
    if not _NAME.match(name):
        raise ValueError(f"view name {name!r} is not a plain identifier")
    for column, sql_type in columns.items():
        if not _NAME.match(column) or sql_type not in SQL_TYPES:
            raise ValueError(f"column {column!r} {sql_type!r}: a plain name and one of {SQL_TYPES}")
    typed = ", ".join(f"CAST({c} AS {t}) AS {c}" for c, t in columns.items())
    empty = ", ".join(f"CAST(NULL AS {t}) AS {c}" for c, t in columns.items())
    relative = sorted(set(files))
    missing = _missing(location, relative)
    if missing:
        raise StoreFault(
            f"{len(missing)} committed log file(s) are missing under {location.stored}, "
            f"{location.address(missing[0])} first; check the log location is the right one, "
            "or restore the files from a backup"
        )
    location.attach(con)
    paths = [location.address(f) for f in relative]
    body = f"SELECT {empty} WHERE false"
    if paths:
        listed = ", ".join("'" + p.replace("'", "''") + "'" for p in paths)
        # The empty typed side gives every column a type even when no file has it yet.
        body += (
            f" UNION ALL BY NAME SELECT * FROM read_parquet([{listed}], "
            "union_by_name = true, hive_partitioning = false)"
        )
    con.execute(f"CREATE OR REPLACE TEMP VIEW {name} AS SELECT {typed} FROM ({body})")


def _missing(location: LogLocation, relative: list[str]) -> list[str]:
    """The files of RELATIVE that are not there: one listing per model and kind on an object
    store (one request per thousand files) instead of one request per file."""
    if location.remote is None:
        return [f for f in relative if not os.path.isfile(location.path_of(f))]
    tops = sorted({"/".join(f.split("/")[:2]) for f in relative})
    found = {name for top in tops for name in location.remote.listing(top)}
    return [f for f in relative if f not in found]
