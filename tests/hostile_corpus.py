"""Hostile prediction-log files for the 'credit' test model, written into a folder on demand.

Nothing binary is committed: every file is generated from plain rows. Good rows stay inside the
reference's ranges and categories (tests/factories.py), so any reason or flag a test sees comes
from the junk it put in.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

COLUMNS = ["request_id", "timestamp", "income", "debt ratio", "segment", "score", "latency_ms"]
SEGMENTS = ("retail", "sme", "corporate")
Row = dict[str, Any]


def good_rows(n: int, *, prefix: str = "h", start: int = 0) -> list[Row]:
    """N valid log rows as text, ids PREFIX-00000 upwards, one minute apart from 2026-03-01."""
    rows = []
    for i in range(start, start + n):
        rows.append(
            {
                "request_id": f"{prefix}-{i:05d}",
                "timestamp": f"2026-03-01T{(i // 60) % 24:02d}:{i % 60:02d}:00Z",
                "income": f"{15000 + (i * 733) % 25000}.5",
                "debt ratio": f"{5 + (i * 7) % 50}.0",
                "segment": SEGMENTS[i % 3],
                "score": f"0.{(i * 37) % 90 + 5:02d}",
                "latency_ms": f"{10 + (i * 13) % 80}.25",
            }
        )
    return rows


def _columns(rows: Sequence[Row]) -> list[str]:
    names = list(COLUMNS)
    for row in rows:
        names += [k for k in row if k not in names]
    return names


def csv_text(
    rows: Sequence[Row], *, columns: Sequence[str] | None = None, delimiter: str = ","
) -> str:
    """Rows as RFC 4180 CSV text (quoted where needed, '\\n' line ends)."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, lineterminator="\n")
    names = list(columns or _columns(rows))
    writer.writerow(names)
    for row in rows:
        writer.writerow(["" if row.get(c) is None else row.get(c) for c in names])
    return out.getvalue()


def write_bytes(path: Path, data: bytes, *, gz: bool = False) -> Path:
    """Write DATA to PATH, gzip-compressed when GZ."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(data, mtime=0) if gz else data)
    return path


def write_csv(
    path: Path,
    rows: Sequence[Row],
    *,
    columns: Sequence[str] | None = None,
    delimiter: str = ",",
    encoding: str = "utf-8",
    gz: bool = False,
) -> Path:
    """Rows as a CSV file in ENCODING ('utf-8-sig' writes a BOM)."""
    text = csv_text(rows, columns=columns, delimiter=delimiter)
    return write_bytes(path, text.encode(encoding), gz=gz)


def write_lines(path: Path, lines: Iterable[str], *, gz: bool = False) -> Path:
    """Text lines as a file, each ended by '\\n'."""
    return write_bytes(path, "".join(f"{line}\n" for line in lines).encode("utf-8"), gz=gz)


def write_jsonl(path: Path, records: Iterable[Any], *, gz: bool = False) -> Path:
    """One JSON value per line; strings in RECORDS are written as they are (junk lines)."""
    lines = [r if isinstance(r, str) else json.dumps(r) for r in records]
    return write_lines(path, lines, gz=gz)


def write_parquet(
    path: Path, rows: Sequence[Row] | pa.Table, *, gz: bool = False, typed: bool = True
) -> Path:
    """Rows as Parquet: typed (numbers as DOUBLE, timestamps as TIMESTAMP UTC) or all text."""
    table = rows if isinstance(rows, pa.Table) else _arrow(rows, typed)
    sink = io.BytesIO()
    pq.write_table(table, sink, row_group_size=max(1, table.num_rows // 3))
    return write_bytes(path, sink.getvalue(), gz=gz)


def _arrow(rows: Sequence[Row], typed: bool) -> pa.Table:
    names = _columns(rows)
    columns = {n: [r.get(n) for r in rows] for n in names}
    if not typed:
        return pa.table({n: pa.array(v, pa.string()) for n, v in columns.items()})
    numbers = {"income", "debt ratio", "score", "latency_ms"}
    arrays = {}
    for n, values in columns.items():
        if n in numbers:
            arrays[n] = pa.array([None if v is None else float(v) for v in values], pa.float64())
        elif n == "timestamp":
            arrays[n] = pa.array(values, pa.string()).cast(pa.timestamp("us", tz="UTC"))
        else:
            arrays[n] = pa.array(values, pa.string())
    return pa.table(arrays)


def cut(path: Path, *, keep: float | None = None, before: bytes | None = None) -> Path:
    """Truncate PATH in place: keep a fraction of its bytes, or everything before a marker."""
    data = path.read_bytes()
    if before is not None:
        end = data.index(before)
    else:
        assert keep is not None
        end = int(len(data) * keep)
    path.write_bytes(data[:end])
    return path


def store_state(store: Any) -> dict[str, tuple[int, str]]:
    """Row count and a checksum of every table in a store, to prove nothing changed."""
    with store.read() as r:
        tables = [
            t
            for (t,) in r.rows(
                "SELECT table_name FROM duckdb_tables() WHERE NOT temporary ORDER BY 1"
            )
        ]
        return {
            t: tuple(
                r.rows(
                    "SELECT count(*), md5(COALESCE(string_agg(CAST(x AS VARCHAR), '|' "
                    f"ORDER BY CAST(x AS VARCHAR)), '')) FROM \"{t}\" x"
                )[0]
            )
            for t in tables
        }


def seed_store(folder: Path, reference: Path) -> Path:
    """A store with 'credit' registered from REFERENCE, 19 predictions (seed-00000 to
    seed-00019 but seed-00003, quarantined for its score) and 5 labels; returns its path."""
    from core.ingest import ingest_labels, ingest_predictions
    from core.registry import RegistrationSpec, register_version
    from core.store import Store

    store = Store(folder / "seeded.duckdb")
    store.init()
    register_version(
        store,
        spec=RegistrationSpec(
            model="credit",
            reference=reference,
            target="defaulted",
            prediction="score",
            created_by="ci",
        ),
    )
    rows = good_rows(20, prefix="seed")
    rows[3]["score"] = "2"
    [logged] = ingest_predictions(store, model="credit", files=[write_csv(folder / "s.csv", rows)])
    assert (logged.rows_ingested, logged.rows_quarantined) == (19, 1)
    labels = folder / "labels.csv"
    labels.write_text(
        "request_id,defaulted\n" + "".join(f"seed-{i:05d},{i % 2}\n" for i in (0, 1, 2, 4, 5))
    )
    assert ingest_labels(store, model="credit", files=[labels])[0].rows_ingested == 5
    return store.path
