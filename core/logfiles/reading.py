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
    paths = sorted({str(location.path_of(f)) for f in files})
    missing = [p for p in paths if not os.path.isfile(p)]
    if missing:
        raise StoreFault(
            f"{len(missing)} committed log file(s) are missing under {location.root}, "
            f"{missing[0]} first; check the log location is the right folder, or restore the "
            "files from a backup"
        )
    body = f"SELECT {empty} WHERE false"
    if paths:
        listed = ", ".join("'" + p.replace("'", "''") + "'" for p in paths)
        # The empty typed side gives every column a type even when no file has it yet.
        body += (
            f" UNION ALL BY NAME SELECT * FROM read_parquet([{listed}], "
            "union_by_name = true, hive_partitioning = false)"
        )
    con.execute(f"CREATE OR REPLACE TEMP VIEW {name} AS SELECT {typed} FROM ({body})")
