"""Real-world junk: every hostile file is either refused whole or accounted for row by row."""

from __future__ import annotations

import gzip
import json
import os
import pty
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core import cli
from core.ingest import BatchResult, ingest_labels, ingest_predictions, quarantine
from core.store import Store
from tests import hostile_corpus as hc
from tests.conftest import ROOT, run_cli
from tests.factories import Case

PRED = "pred_m1"  # the only model of these stores


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory, binary_files: Case) -> Path:
    """A store file with 'credit' registered, 19 predictions, one quarantined row, 5 labels."""
    return hc.seed_store(tmp_path_factory.mktemp("seeded"), binary_files.reference)


@pytest.fixture
def seeded_store(seeded: Path, tmp_path: Path) -> Store:
    """A private copy of the seeded store."""
    shutil.copy(seeded, tmp_path / "store.duckdb")
    return Store(tmp_path / "store.duckdb", lock_wait_seconds=10)


def ingest(store: Store, path: Path | str, **options: object) -> BatchResult:
    [result] = ingest_predictions(store, model="credit", files=[path], **options)
    assert result.error is None, result.error
    assert result.rows_read == result.rows_ingested + result.rows_quarantined
    return result


def counts(result: BatchResult) -> tuple[int, int, int]:
    return result.rows_read, result.rows_ingested, result.rows_quarantined


def quarantined(store: Store, result: BatchResult) -> list[tuple[int, list[str], str]]:
    """(line, reasons, raw) of a batch's quarantined rows."""
    with store.read() as r:
        return r.rows(
            "SELECT line, reasons, raw FROM quarantine WHERE batch_id = ? ORDER BY line",
            [result.batch_id],
        )


def stored(store: Store, sql: str, result: BatchResult) -> list[tuple]:
    """SELECT columns from the prediction rows of one batch, by request id."""
    with store.read() as r:
        return r.rows(
            f"SELECT {sql} FROM {PRED} WHERE batch_id = ? ORDER BY request_id", [result.batch_id]
        )


# --- files refused whole --------------------------------------------------------------------


def _folder(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


Build = Callable[[Path], Path]
FILE_LEVEL: dict[str, tuple[Build, str]] = {
    "parquet cut in half": (
        lambda d: hc.cut(hc.write_parquet(d / "half.parquet", hc.good_rows(300)), keep=0.5),
        "cannot be read as PARQUET",
    ),
    "empty file": (lambda d: hc.write_bytes(d / "empty.csv", b""), "the file is empty"),
    "blank lines only": (
        lambda d: hc.write_bytes(d / "blank.csv", b"\n \n\n"),
        "the first line is empty",
    ),
    "header only": (
        lambda d: hc.write_bytes(d / "header.csv", hc.csv_text([]).encode()),
        "no data rows",
    ),
    "duplicate header names": (
        lambda d: hc.write_bytes(
            d / "dupe.csv", hc.csv_text(hc.good_rows(2)).replace("latency_ms", "income", 1).encode()
        ),
        "duplicate column names ['income']",
    ),
    "header names differing only in case": (
        lambda d: hc.write_bytes(
            d / "case.csv", hc.csv_text(hc.good_rows(2)).replace("latency_ms", "Score", 1).encode()
        ),
        "duplicate column names ['Score', 'score']",
    ),
    "another model's parquet": (
        lambda d: hc.write_parquet(
            d / "other.parquet",
            pa.table({"customer": ["a", "b"], "amount": [1.0, 2.0], "churned": [0, 1]}),
        ),
        "none of the model's columns are present; is this another model's file?",
    ),
    "a feature column missing": (
        lambda d: hc.write_csv(
            d / "no_segment.csv", hc.good_rows(3), columns=[c for c in hc.COLUMNS if c != "segment"]
        ),
        "missing required column(s) 'segment' (feature)",
    ),
    # A tester's file named it "logged_at": it was ingested with every row stamped "now".
    "the timestamp column misnamed": (
        lambda d: hc.write_bytes(
            d / "renamed.csv",
            hc.csv_text(hc.good_rows(3)).replace("timestamp", "Timestamp_UTC", 1).encode(),
        ),
        "missing required column(s) 'timestamp' (timestamp, is it 'Timestamp_UTC'?)",
    ),
    "csv content in a .parquet file": (
        lambda d: hc.write_bytes(d / "fake.parquet", hc.csv_text(hc.good_rows(3)).encode()),
        "cannot be read as PARQUET",
    ),
    "gzip csv cut short": (
        lambda d: hc.cut(hc.write_csv(d / "cut.csv.gz", hc.good_rows(500), gz=True), keep=0.5),
        "damaged gzip file",
    ),
    "gzip parquet cut short": (
        lambda d: hc.cut(
            hc.write_parquet(d / "cut.parquet.gz", hc.good_rows(500), gz=True), keep=0.5
        ),
        "damaged gzip file",
    ),
    "json lines without one object": (
        lambda d: hc.write_lines(d / "text.jsonl", ["hello", "[1, 2]", "{broken"]),
        "no JSON objects found",
    ),
    "a folder": (_folder, "not a file"),
}


@pytest.mark.parametrize("case", FILE_LEVEL, ids=list(FILE_LEVEL))
def test_a_file_level_problem_is_refused_whole_and_changes_nothing_stored(
    case: str, seeded_store: Store, tmp_path: Path
) -> None:
    build, message = FILE_LEVEL[case]
    path = build(tmp_path / "in")
    before = hc.store_state(seeded_store)

    [result] = ingest_predictions(seeded_store, model="credit", files=[path])

    assert message in (result.error or "")
    assert (result.batch_id, counts(result)) == (None, (0, 0, 0))
    assert hc.store_state(seeded_store) == before


# --- rows accounted one by one --------------------------------------------------------------


def test_a_csv_cut_mid_row_keeps_the_rows_before_and_quarantines_the_stub(
    seeded_store: Store, tmp_path: Path
) -> None:
    rows = hc.good_rows(10)
    text = hc.csv_text(rows)
    end = text.index(rows[6]["segment"], text.index("h-00006")) + 2
    path = hc.write_bytes(tmp_path / "cut.csv", text[:end].encode())

    result = ingest(seeded_store, path)

    assert counts(result) == (7, 6, 1)
    assert result.reasons == {"malformed_row": 1}
    [(line, reasons, raw)] = quarantined(seeded_store, result)
    assert (line, reasons) == (7, ["malformed_row"])
    assert json.loads(raw) == {"line": text[text.index("h-00006") : end]}


def test_an_unterminated_quote_is_one_malformed_row_that_keeps_the_text_it_swallowed(
    seeded_store: Store, tmp_path: Path
) -> None:
    rows = hc.good_rows(6)
    rows[3]["note"] = 'he said "stop'
    text = hc.csv_text(rows).replace('"he said ""stop"', '"he said ""stop')
    path = hc.write_bytes(tmp_path / "quote.csv", text.encode())

    result = ingest(seeded_store, path)

    assert counts(result) == (4, 3, 1)
    [(line, reasons, raw)] = quarantined(seeded_store, result)
    assert (line, reasons) == (4, ["malformed_row"])
    assert "h-00004" in json.loads(raw)["line"] and "h-00005" in json.loads(raw)["line"]


@pytest.mark.parametrize("encoding", ["cp1252", "latin-1"])
def test_a_windows_or_latin1_file_is_decoded_not_rejected(
    encoding: str, seeded_store: Store, tmp_path: Path
) -> None:
    notes = ["café crème", "naïve", "Ångström", "plain"]
    if encoding == "cp1252":
        notes[3] = "“quoted” €5"
    rows = [{**r, "note": n} for r, n in zip(hc.good_rows(4), notes, strict=True)]
    rows[1]["segment"] = "détail"
    path = hc.write_csv(tmp_path / "win.csv", rows, encoding=encoding)

    result = ingest(seeded_store, path)

    assert counts(result) == (4, 4, 0)
    assert result.flags == {"unknown_category:segment": 1}
    assert any("Windows-1252" in w for w in result.warnings)
    extras = [json.loads(e)["note"] for (e,) in stored(seeded_store, "extra", result)]
    assert extras == notes
    assert stored(seeded_store, "f3", result)[1] == ("détail",)


def test_a_file_mixing_utf8_and_latin1_lines_decodes_each_line(
    seeded_store: Store, tmp_path: Path
) -> None:
    rows = [
        {**r, "note": n} for r, n in zip(hc.good_rows(3), ["€ utf8", "ß latin", "ok"], strict=True)
    ]
    data = (
        hc.csv_text(rows).encode("utf-8").replace("ß latin".encode(), "ß latin".encode("latin-1"))
    )
    path = hc.write_bytes(tmp_path / "mixed.csv", data)

    result = ingest(seeded_store, path)

    assert counts(result) == (3, 3, 0)
    assert [json.loads(e)["note"] for (e,) in stored(seeded_store, "extra", result)] == [
        "€ utf8",
        "ß latin",
        "ok",
    ]


@pytest.mark.parametrize(
    "name, data",
    [
        ("bom.csv", "\ufeff" + hc.csv_text(hc.good_rows(3))),
        ("bom.jsonl", "\ufeff" + "".join(json.dumps(r) + "\n" for r in hc.good_rows(3))),
        ("utf16.csv", hc.csv_text(hc.good_rows(3))),
    ],
)
def test_a_byte_order_mark_never_reaches_the_first_column_name(
    name: str, data: str, seeded_store: Store, tmp_path: Path
) -> None:
    encoded = data.encode("utf-16") if name.startswith("utf16") else data.encode("utf-8")
    path = hc.write_bytes(tmp_path / name, encoded)

    result = ingest(seeded_store, path)

    assert counts(result) == (3, 3, 0)
    assert result.extra_columns == []
    assert stored(seeded_store, "request_id", result) == [("h-00000",), ("h-00001",), ("h-00002",)]


def test_mixed_types_in_a_numeric_column_are_sorted_out_row_by_row(
    seeded_store: Store, tmp_path: Path
) -> None:
    sent = ["52000", "n/a", "1e7", "", "NaN", "-inf", "12,5", " 31000 "]
    rows = [{**r, "income": v} for r, v in zip(hc.good_rows(8), sent, strict=True)]

    result = ingest(seeded_store, hc.write_csv(tmp_path / "mixed.csv", rows))

    assert counts(result) == (8, 3, 5)
    assert result.reasons == {"missing:income": 2, "wrong_type:income": 2, "not_finite:income": 1}
    assert result.flags == {"out_of_range:income": 1}
    assert [(line, r) for line, r, _ in quarantined(seeded_store, result)] == [
        (2, ["wrong_type:income"]),
        (4, ["missing:income"]),
        (5, ["missing:income"]),
        (6, ["not_finite:income"]),
        (7, ["wrong_type:income"]),
    ]
    assert stored(seeded_store, "f1", result) == [(52000.0,), (1e7,), (31000.0,)]


def test_mixed_json_types_in_a_numeric_field_are_sorted_out_row_by_row(
    seeded_store: Store, tmp_path: Path
) -> None:
    sent = [52000, "52000", True, {"a": 1}, [1], None, 1.5e4]
    rows = [{**r, "income": v} for r, v in zip(hc.good_rows(7), sent, strict=True)]

    result = ingest(seeded_store, hc.write_jsonl(tmp_path / "mixed.jsonl", rows))

    assert counts(result) == (7, 3, 4)
    assert result.reasons == {"wrong_type:income": 3, "missing:income": 1}
    assert stored(seeded_store, "f1", result) == [(52000.0,), (52000.0,), (15000.0,)]


def test_embedded_newlines_quotes_and_delimiters_survive_as_sent(
    seeded_store: Store, tmp_path: Path
) -> None:
    notes = ["line1\nline2", 'he said "hi", twice', "cr\r\nlf", 'bad "row"\nstill, bad']
    rows = [{**r, "note": n} for r, n in zip(hc.good_rows(4), notes, strict=True)]
    rows[3]["score"] = "7"

    result = ingest(seeded_store, hc.write_csv(tmp_path / "embedded.csv", rows))

    assert counts(result) == (4, 3, 1)
    assert [json.loads(e)["note"] for (e,) in stored(seeded_store, "extra", result)] == notes[:3]
    [(line, reasons, raw)] = quarantined(seeded_store, result)
    assert (line, reasons) == (4, ["prediction_outside_0_1"])
    assert json.loads(raw) == rows[3]


def test_a_carriage_return_inside_a_value_is_kept_and_does_not_break_the_file(
    seeded_store: Store, tmp_path: Path
) -> None:
    rows = hc.good_rows(4)
    rows[1]["note"] = "quoted\rvalue"
    text = hc.csv_text(rows).replace("h-00002,", "h-00002\rjunk,", 1)  # unquoted, LF file
    path = hc.write_bytes(tmp_path / "cr.csv", (text + "h-00009,x\r").encode())

    result = ingest(seeded_store, path)

    assert counts(result) == (5, 4, 1)
    ids_and_extras = stored(seeded_store, "request_id, extra", result)
    assert ids_and_extras[1] == ("h-00001", '{"note":"quoted\\rvalue"}')
    assert ids_and_extras[2][0] == "h-00002\rjunk"
    [(line, reasons, raw)] = quarantined(seeded_store, result)
    assert (line, reasons, json.loads(raw)) == (5, ["malformed_row"], {"line": "h-00009,x\r"})


def test_old_mac_line_endings_are_line_breaks(seeded_store: Store, tmp_path: Path) -> None:
    data = hc.csv_text(hc.good_rows(3)).replace("\n", "\r").encode()

    result = ingest(seeded_store, hc.write_bytes(tmp_path / "mac.csv", data))

    assert counts(result) == (3, 3, 0)


def test_a_one_megabyte_field_is_kept_whole_in_the_log_and_in_the_quarantine(
    seeded_store: Store, tmp_path: Path
) -> None:
    rows = hc.good_rows(3)
    rows[0]["note"] = "x" * 1_000_000
    rows[1]["income"] = "y" * 1_000_000

    result = ingest(seeded_store, hc.write_csv(tmp_path / "long.csv", rows))

    assert counts(result) == (3, 2, 1)
    assert result.reasons == {"wrong_type:income": 1}
    assert len(json.loads(stored(seeded_store, "extra", result)[0][0])["note"]) == 1_000_000
    [(_, _, raw)] = quarantined(seeded_store, result)
    assert json.loads(raw)["income"] == "y" * 1_000_000


def test_a_request_id_of_5000_characters_is_quarantined_with_its_reason(
    seeded_store: Store, tmp_path: Path
) -> None:
    rows = hc.good_rows(3)
    rows[1]["request_id"] = "r" * 5_000
    rows[2]["request_id"] = "s" * 200  # the longest id kept

    result = ingest(seeded_store, hc.write_csv(tmp_path / "ids.csv", rows))

    assert counts(result) == (3, 2, 1)
    assert result.reasons == {"request_id_too_long": 1}
    [(line, reasons, raw)] = quarantined(seeded_store, result)
    assert (line, reasons) == (2, ["request_id_too_long"])
    assert json.loads(raw)["request_id"] == "r" * 5_000


def test_a_label_with_an_overlong_request_id_is_quarantined_with_its_reason(
    seeded_store: Store, tmp_path: Path
) -> None:
    path = tmp_path / "labels.csv"
    path.write_text("request_id,defaulted\n" + "q" * 5_000 + ",1\n")

    [result] = ingest_labels(seeded_store, model="credit", files=[path])

    assert result.reasons == {"request_id_too_long": 1, "unknown_request_id": 1}


def test_a_record_longer_than_the_reader_accepts_is_quarantined_not_fatal(
    seeded_store: Store, tmp_path: Path
) -> None:
    rows = hc.good_rows(3)
    rows[1]["note"] = "z" * 17_000_000

    result = ingest(seeded_store, hc.write_csv(tmp_path / "huge.csv", rows))

    assert counts(result) == (3, 2, 1)
    [(line, reasons, raw)] = quarantined(seeded_store, result)
    assert (line, reasons) == (2, ["malformed_row"])
    assert json.loads(raw)["line"].startswith("h-00001,2026-03-01T00:01:00Z")


def test_json_lines_with_nested_junk_are_accounted_line_by_line(
    seeded_store: Store, tmp_path: Path
) -> None:
    g = hc.good_rows(6)
    lines = [
        g[0],
        {**g[1], "income": {"a": 1}},
        {**g[2], "segment": ["x"], "context": {"ip": "10.0.0.1", "tags": [1, 2]}},
        "",
        "[1, 2]",
        "42",
        '"just a string"',
        "null",
        "{bad json",
        {**g[3], "income": 52000, "score": 0.5, "latency_ms": None},
        "   ",
        {**g[4], "income": True},
        json.dumps(g[5])[:-5],
    ]

    result = ingest(seeded_store, hc.write_jsonl(tmp_path / "junk.jsonl", lines))

    assert counts(result) == (11, 3, 8)
    assert result.reasons == {"malformed_row": 6, "wrong_type:income": 2}
    assert result.flags == {"unknown_category:segment": 1}
    assert result.extra_columns == ["context"]
    kept = quarantined(seeded_store, result)
    assert [(line, r) for line, r, _ in kept] == [
        (2, ["wrong_type:income"]),
        (5, ["malformed_row"]),
        (6, ["malformed_row"]),
        (7, ["malformed_row"]),
        (8, ["malformed_row"]),
        (9, ["malformed_row"]),
        (12, ["wrong_type:income"]),
        (13, ["malformed_row"]),
    ]
    assert json.loads(kept[0][2]) == lines[1]  # the line exactly as received
    assert json.loads(kept[1][2]) == {"line": "[1, 2]"}
    assert json.loads(stored(seeded_store, "extra", result)[1][0]) == {
        "context": '{"ip":"10.0.0.1","tags":[1,2]}'
    }


def test_odd_json_keys_become_extra_columns_not_a_refused_file(
    seeded_store: Store, tmp_path: Path
) -> None:
    g = hc.good_rows(4)
    lines = [g[0], {**g[1], "Score": 0.3}, {**g[2], "": "empty key"}, {**g[3], 'a"b/c': 1}]

    result = ingest(seeded_store, hc.write_jsonl(tmp_path / "keys.jsonl", lines))

    assert counts(result) == (4, 4, 0)
    assert result.extra_columns == ["Score_2", 'a"b/c', "column"]
    assert [json.loads(e) for (e,) in stored(seeded_store, "extra", result)][1:] == [
        {"Score_2": "0.3", 'a"b/c': None, "column": None},
        {"Score_2": None, 'a"b/c': None, "column": "empty key"},
        {"Score_2": None, 'a"b/c': "1", "column": None},
    ]


def test_timestamps_in_many_formats_and_zones_are_stored_in_utc(
    seeded_store: Store, tmp_path: Path
) -> None:
    at_ten = datetime(2026, 3, 1, 10, tzinfo=UTC).timestamp()
    future = (datetime.now(UTC) + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    sent = {
        "2026-03-01T10:00:00Z": datetime(2026, 3, 1, 10),
        "2026-03-01T10:00:00+02:00": datetime(2026, 3, 1, 8),
        "2026-03-01 10:00:00": datetime(2026, 3, 1, 10),
        "2026-03-01 10:00:00 Europe/Paris": datetime(2026, 3, 1, 9),
        f"{at_ten:.0f}": datetime(2026, 3, 1, 10),
        f"{at_ten + 0.5}": datetime(2026, 3, 1, 10, 0, 0, 500000),
        "01/03/2026 14:05": datetime(2026, 3, 1, 14, 5),
        "26/02/2026 23:59:59": datetime(2026, 2, 26, 23, 59, 59),
        "2026-03-01": datetime(2026, 3, 1),
        "yesterday": "bad_timestamp",
        f"{at_ten * 1000:.0f}": "bad_timestamp",  # milliseconds: not accepted
        "0": "bad_timestamp",
        "": "bad_timestamp",
        future: "future_timestamp",
    }
    rows = [{**r, "timestamp": v} for r, v in zip(hc.good_rows(len(sent)), sent, strict=True)]

    result = ingest(seeded_store, hc.write_csv(tmp_path / "ts.csv", rows))

    assert counts(result) == (14, 9, 5)
    assert result.reasons == {"bad_timestamp": 4, "future_timestamp": 1}
    expected = [(r["request_id"], v) for r, v in zip(rows, sent.values(), strict=True)]
    assert stored(seeded_store, "request_id, ts", result) == [
        (rid, v) for rid, v in expected if isinstance(v, datetime)
    ]
    assert [(line, r) for line, r, _ in quarantined(seeded_store, result)] == [
        (i, [v]) for i, (_, v) in enumerate(expected, start=1) if isinstance(v, str)
    ]


def test_typed_parquet_timestamps_and_epoch_columns_are_stored_in_utc(
    seeded_store: Store, tmp_path: Path
) -> None:
    rows = hc.good_rows(2)
    zoned = hc.write_parquet(tmp_path / "zoned.parquet", rows)  # TIMESTAMP WITH TIME ZONE
    at_ten = int(datetime(2026, 3, 1, 10, tzinfo=UTC).timestamp())
    epoch = [{**r, "request_id": f"e-{i}", "timestamp": at_ten + i} for i, r in enumerate(rows)]
    table = pa.table({k: [r[k] for r in epoch] for k in hc.COLUMNS}).cast(
        pa.schema([(k, pa.int64() if k == "timestamp" else pa.string()) for k in hc.COLUMNS])
    )
    seconds = hc.write_parquet(tmp_path / "epoch.parquet", table)

    first, second = ingest(seeded_store, zoned), ingest(seeded_store, seconds)

    assert stored(seeded_store, "ts", first) == [
        (datetime(2026, 3, 1, 0, 0),),
        (datetime(2026, 3, 1, 0, 1),),
    ]
    assert stored(seeded_store, "ts", second) == [
        (datetime(2026, 3, 1, 10),),
        (datetime(2026, 3, 1, 10, 0, 1),),
    ]


def test_nan_counts_as_missing_and_infinity_as_junk_in_a_typed_parquet_file(
    seeded_store: Store, tmp_path: Path
) -> None:
    nan, inf = float("nan"), float("inf")
    table = pa.table(
        {
            "request_id": ["n1", "n2", "n3", "n4", "n5"],
            "timestamp": pa.array(["2026-03-01T00:00:00Z"] * 5).cast(pa.timestamp("us", "UTC")),
            "income": [nan, inf, 20000.0, None, 25000.0],
            "debt ratio": [10.0, 10.0, 10.0, 10.0, nan],
            "segment": ["sme"] * 5,
            "score": [0.5, 0.5, nan, 0.5, 0.5],
            "latency_ms": [1.0, -1.0, 2.0, 3.0, nan],
        }
    )

    result = ingest(seeded_store, hc.write_parquet(tmp_path / "nan.parquet", table))

    assert counts(result) == (5, 0, 5)
    assert [(line, r) for line, r, _ in quarantined(seeded_store, result)] == [
        (1, ["missing:income"]),
        (2, ["negative_latency", "not_finite:income"]),
        (3, ["missing_prediction"]),
        (4, ["missing:income"]),
        (5, ["missing:debt ratio"]),
    ]
    raw = json.loads(quarantined(seeded_store, result)[1][2])  # valid JSON despite inf
    assert (raw["income"], raw["latency_ms"]) == ("inf", -1.0)


def test_quarantined_parquet_rows_with_nan_and_inf_can_be_retried(
    seeded_store: Store, tmp_path: Path
) -> None:
    table = pa.table(
        {
            "request_id": ["r1", "r2"],
            "timestamp": pa.array(["2026-03-01T00:00:00Z"] * 2).cast(pa.timestamp("us", "UTC")),
            "income": [float("inf"), 20000.0],
            "debt ratio": [10.0, 10.0],
            "segment": ["sme", "sme"],
            "score": [0.5, float("nan")],
        }
    )
    first = ingest(seeded_store, hc.write_parquet(tmp_path / "nan.parquet", table))

    [again] = quarantine.retry(seeded_store, model="credit", batch_id=first.batch_id)

    assert (counts(first), counts(again)) == ((2, 0, 2), (2, 0, 2))
    assert again.reasons == first.reasons == {"missing_prediction": 1, "not_finite:income": 1}
    assert len(quarantine.rows(seeded_store, model="credit", batch_id=first.batch_id)) == 0
    assert len(quarantine.rows(seeded_store, model="credit", batch_id=again.batch_id)) == 2


@pytest.mark.parametrize("kind", ["csv", "jsonl", "parquet"])
def test_gzip_compressed_files_are_read_like_plain_ones(
    kind: str, seeded_store: Store, tmp_path: Path
) -> None:
    rows = hc.good_rows(5)
    rows[2]["score"] = "1.5"
    write = {"csv": hc.write_csv, "jsonl": hc.write_jsonl, "parquet": hc.write_parquet}[kind]
    path = write(tmp_path / f"logs.{kind}.gz", rows, gz=True)

    result = ingest(seeded_store, path)

    assert (counts(result), result.reasons) == ((5, 4, 1), {"prediction_outside_0_1": 1})


def test_the_same_rows_sent_again_in_another_wrapping_are_duplicates_in_the_store(
    seeded_store: Store, tmp_path: Path
) -> None:
    rows = hc.good_rows(4)
    first = ingest(seeded_store, hc.write_csv(tmp_path / "a.csv", rows))

    again = ingest(seeded_store, hc.write_csv(tmp_path / "a.csv.gz", rows, gz=True))

    assert counts(first) == (4, 4, 0)
    assert again.duplicate_of is None  # other bytes, so not the same file
    assert (counts(again), again.reasons) == ((4, 0, 4), {"duplicate_request_id_in_store": 4})


def test_duplicate_ids_in_a_file_keep_the_first_row(seeded_store: Store, tmp_path: Path) -> None:
    rows = hc.good_rows(5)
    rows[3]["request_id"] = rows[1]["request_id"]
    rows[4]["request_id"] = "seed-00000"  # already stored

    result = ingest(seeded_store, hc.write_csv(tmp_path / "dupes.csv", rows))

    assert result.reasons == {
        "duplicate_request_id_in_file": 1,
        "duplicate_request_id_in_store": 1,
    }
    assert [line for line, _, _ in quarantined(seeded_store, result)] == [4, 5]


@pytest.mark.parametrize(
    "delimiter, option", [(";", None), ("|", "|"), ("\t", "\\t"), ("\t", "tab"), (";", ";")]
)
def test_delimiters_are_sniffed_from_the_header_or_taken_from_the_option(
    delimiter: str, option: str | None, seeded_store: Store, tmp_path: Path
) -> None:
    rows = hc.good_rows(4)
    rows[2]["note"] = "a, b; c | d"
    path = hc.write_csv(tmp_path / "logs.txt", rows, delimiter=delimiter)

    result = ingest(seeded_store, path, delimiter=option)

    assert counts(result) == (4, 4, 0)
    assert json.loads(stored(seeded_store, "extra", result)[2][0]) == {"note": "a, b; c | d"}


def test_a_wrong_delimiter_option_makes_the_header_unrecognisable(
    seeded_store: Store, tmp_path: Path
) -> None:
    path = hc.write_csv(tmp_path / "semi.csv", hc.good_rows(3), delimiter=";")
    before = hc.store_state(seeded_store)

    [result] = ingest_predictions(seeded_store, model="credit", files=[path], delimiter=",")

    # A tester was asked "is this another model's file?" for a wrong delimiter.
    assert result.error == (
        f"{path}: read as a single column ('request_id;timestamp;income;debt ratio;segment;score;"
        "latency'); is the delimiter right? Pass --delimiter, or leave it out to have it detected"
    )
    assert hc.store_state(seeded_store) == before


# --- labels ---------------------------------------------------------------------------------


def test_hostile_labels_are_sorted_out_row_by_row(seeded_store: Store, tmp_path: Path) -> None:
    sent = [
        ("seed-00010", "1"),  # fine
        ("seed-00011", "1.0"),  # fine: the number 1
        ("seed-00011", "1"),  # the same label again
        ("seed-00012", "0"),
        ("seed-00012", "1"),  # conflicts with the row above
        ("seed-00013", "maybe"),  # not a class of the model
        ("seed-00013", "0"),  # fine: the junk above does not conflict
        ("", "1"),
        ("seed-00014", ""),
        ("nobody", "1"),  # no such prediction
        ("seed-00015", "2"),
        ("seed-00016", "inf"),
        ("seed-00000", "0"),  # stored as 0 already
        ("seed-00001", "0"),  # stored as 1 already
        ("seed-00003", "1"),  # its prediction was quarantined, so unknown
    ]
    path = tmp_path / "labels.csv"
    path.write_text("request_id,defaulted\n" + "".join(f"{a},{b}\n" for a, b in sent))

    [result] = ingest_labels(seeded_store, model="credit", files=[path])

    assert counts(result) == (15, 3, 12)
    assert result.reasons == {
        "bad_label": 3,
        "conflicting_labels_in_file": 2,
        "duplicate_label_in_file": 1,
        "missing_label": 1,
        "missing_request_id": 1,
        "unknown_request_id": 2,
        "already_labelled": 1,
        "conflicts_with_stored_label": 1,
    }
    with seeded_store.read() as r:
        labels = r.rows(
            "SELECT request_id, label, y FROM label WHERE batch_id = ? ORDER BY 1",
            [result.batch_id],
        )
    assert labels == [
        ("seed-00010", "1", 1.0),
        ("seed-00011", "1.0", 1.0),
        ("seed-00013", "0", 0.0),
    ]


def test_a_label_file_of_another_shape_is_refused_whole(
    seeded_store: Store, tmp_path: Path
) -> None:
    before = hc.store_state(seeded_store)

    [result] = ingest_labels(
        seeded_store, model="credit", files=[hc.write_csv(tmp_path / "x.csv", hc.good_rows(2))]
    )

    assert "missing required column(s) 'defaulted' (target)" in (result.error or "")
    assert hc.store_state(seeded_store) == before


# --- the command line -----------------------------------------------------------------------


def modelbridge(capsys: pytest.CaptureFixture[str], *args: str | Path) -> tuple[int, str, str]:
    """Run the CLI in this process (as `python -m core` does): exit code, stdout, stderr."""
    try:
        code = cli.main([str(a) for a in args])
    except SystemExit as exc:  # argparse's own exit
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def test_the_cli_exits_0_when_rows_were_quarantined_and_reports_them(
    seeded_store: Store, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = hc.good_rows(3)
    rows[1]["score"] = "-1"
    path = hc.write_csv(tmp_path / "l.csv", rows)

    code, out, err = modelbridge(
        capsys, "ingest", "credit", path, "--json", "--no-alerts", "--db", seeded_store.path
    )

    assert (code, err) == (0, "")  # no progress bar either: stderr is not a terminal
    report = json.loads(out)
    assert (report["rows_read"], report["rows_ingested"], report["rows_quarantined"]) == (3, 2, 1)
    assert report["reasons"] == {"prediction_outside_0_1": 1}
    assert report["batch_id"].startswith("b-")


@pytest.mark.parametrize(
    "args, message",
    [
        (["ingest", "nosuch", "x.csv"], "unknown model 'nosuch'"),
        (["ingest", "credit", "x.csv", "--delimiter", "ab"], "--delimiter must be one character"),
        (["ingest", "credit", "x.csv", "--range-tolerance", "-1"], "must be zero or positive"),
        (["ingest", "credit"], "the following arguments are required: files"),
        (["ingest", "credit", "x.csv", "--format", "xml"], "invalid choice: 'xml'"),
    ],
)
def test_the_cli_exits_2_on_bad_usage(
    args: list[str], message: str, seeded_store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    before = hc.store_state(seeded_store)

    code, _, err = modelbridge(capsys, *args, "--db", seeded_store.path)

    assert code == 2
    assert message in err and len(err.strip().splitlines()) == 1
    assert hc.store_state(seeded_store) == before


def test_the_cli_exits_3_on_a_file_level_error_and_still_ingests_the_other_files(
    seeded_store: Store, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = hc.write_csv(tmp_path / "good.csv", hc.good_rows(3))
    broken = hc.cut(hc.write_parquet(tmp_path / "broken.parquet", hc.good_rows(100)), keep=0.5)
    before = hc.store_state(seeded_store)
    db = ["--db", seeded_store.path, "--no-alerts"]

    alone = modelbridge(capsys, "ingest", "credit", broken, *db)
    unchanged = hc.store_state(seeded_store)
    code, out, _ = modelbridge(capsys, "ingest", "credit", good, broken, "--json", *db)

    assert alone[0] == 3 and "broken.parquet: cannot be read as PARQUET" in alone[2]
    assert unchanged == before
    assert code == 3
    assert [(r["rows_ingested"], r["error"] is None) for r in json.loads(out)] == [
        (3, True),
        (0, False),
    ]


def test_the_cli_takes_the_delimiter_as_typed_in_a_shell(
    seeded_store: Store, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = hc.write_csv(tmp_path / "logs.tsv", hc.good_rows(3), delimiter="\t")
    typed = "\\t"  # what `--delimiter '\t'` passes
    args = ["ingest", "credit", path, "--delimiter", typed, "--json", "--no-alerts"]

    code, out, _ = modelbridge(capsys, *args, "--db", seeded_store.path)

    assert (code, json.loads(out)["rows_ingested"]) == (0, 3)


def test_python_m_core_exits_with_the_cli_code(seeded_store: Store, tmp_path: Path) -> None:
    broken = hc.cut(hc.write_parquet(tmp_path / "broken.parquet", hc.good_rows(100)), keep=0.5)

    ran = run_cli("ingest", "credit", broken, "--no-alerts", db=seeded_store.path)

    assert ran.code == 3
    assert ran.err.startswith("modelbridge: error: ") and "cannot be read as PARQUET" in ran.err


def test_the_cli_reads_standard_input_for_a_dash(seeded_store: Store) -> None:
    rows = hc.good_rows(3)
    rows[2]["request_id"] = ""

    ran = run_cli(
        "ingest",
        "credit",
        "-",
        "--json",
        "--no-alerts",
        db=seeded_store.path,
        stdin=hc.csv_text(rows),
    )

    assert ran.code == 0, ran.err
    report = ran.json()
    assert (report["source"], report["rows_ingested"], report["reasons"]) == (
        "<stdin>",
        2,
        {"missing_request_id": 1},
    )


def test_the_cli_reads_gzip_json_lines_from_standard_input(seeded_store: Store) -> None:
    data = gzip.compress("".join(json.dumps(r) + "\n" for r in hc.good_rows(3)).encode())

    done = subprocess.run(
        [sys.executable, "-m", "core", "ingest", "credit", "-", "--json", "--no-alerts"]
        + ["--db", str(seeded_store.path)],
        input=data,
        capture_output=True,
        cwd=ROOT,
        timeout=300,
    )

    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["rows_ingested"] == 3


def _on_a_terminal(args: list[str | Path]) -> tuple[int, str]:
    """Run the CLI with stderr on a pseudo-terminal; return the exit code and what it showed."""
    leader, follower = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "core", *map(str, args)],
        stdout=subprocess.DEVNULL,
        stderr=follower,
        stdin=subprocess.DEVNULL,
        cwd=ROOT,
        env={**os.environ, "COLUMNS": "120"},
    )
    os.close(follower)
    shown = b""
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        shown += chunk
    os.close(leader)
    return process.wait(timeout=300), shown.decode("utf-8", "replace")


def test_the_cli_shows_a_progress_bar_on_a_terminal_and_nothing_with_json(
    seeded_store: Store, tmp_path: Path
) -> None:
    first = hc.write_csv(tmp_path / "a.csv", hc.good_rows(3))
    second = hc.write_csv(tmp_path / "b.csv", hc.good_rows(2, start=3))
    third = hc.write_csv(tmp_path / "c.csv", hc.good_rows(2, start=9))
    db = ["--no-alerts", "--db", seeded_store.path]

    code, shown = _on_a_terminal(["ingest", "credit", first, second, *db])
    quiet_code, quiet = _on_a_terminal(["ingest", "credit", third, "--json", *db])

    assert code == 0 and "2/2" in shown and "5 rows" in shown
    assert quiet_code == 0 and "rows" not in quiet


# --- generated junk (hypothesis) ------------------------------------------------------------

JUNK = st.one_of(
    st.none(),
    st.text(max_size=12),
    st.sampled_from(["", " ", "NaN", "nan", "inf", "-Infinity", "1e400", "null", "None", "-0"]),
    st.integers(min_value=-(10**20), max_value=10**20),
    st.floats(allow_nan=True, allow_infinity=True),
)
CELLS = {
    "request_id": st.one_of(st.just("ok"), st.just("ok"), JUNK),
    "timestamp": st.one_of(st.just("2026-03-01T10:00:00Z"), JUNK),
    "income": st.one_of(st.just("25000"), JUNK),
    "debt ratio": st.one_of(st.just("12.5"), JUNK),
    "segment": st.one_of(st.sampled_from(hc.SEGMENTS), JUNK),
    "score": st.one_of(st.just("0.4"), JUNK),
    "latency_ms": st.one_of(st.just("20"), JUNK),
}
ROWS = st.lists(st.fixed_dictionaries(CELLS), min_size=1, max_size=12)
# In JSON an id that is not a string is kept as its JSON text; big or odd numbers have more
# than one such text, so generated JSON ids stay strings, small integers, booleans or null.
JSON_ROWS = st.lists(
    st.fixed_dictionaries(
        {
            **CELLS,
            "request_id": st.one_of(
                st.just("ok"), st.none(), st.text(max_size=8), st.integers(-999, 999), st.booleans()
            ),
        },
        optional={"extra keys": st.dictionaries(st.text(max_size=4), JUNK, max_size=3)},
    ),
    min_size=1,
    max_size=12,
)


def _as_text(value: object) -> str:
    return "" if value is None else str(value)


def _check_nothing_is_lost(store: Store, result: BatchResult, rows: list[dict]) -> None:
    assert result.error is None, result.error
    assert (result.rows_read, result.rows_ingested + result.rows_quarantined) == (len(rows),) * 2
    with store.read() as r:
        kept = r.rows("SELECT line, reasons FROM quarantine WHERE batch_id = ?", [result.batch_id])
        ingested = sorted(
            i
            for (i,) in r.rows(
                f"SELECT request_id FROM {PRED} WHERE batch_id = ?", [result.batch_id]
            )
        )
    assert all(reasons for _, reasons in kept)
    lines = {line for line, _ in kept}
    assert len(lines) == len(kept) == result.rows_quarantined
    assert ingested == sorted(r["request_id"] for i, r in enumerate(rows, 1) if i not in lines)


def _unique_ids(rows: list[dict]) -> list[dict]:
    # "ok" becomes a fresh id; junk ids stay as sent (duplicates and blanks included).
    return [
        {**r, "request_id": f"g-{i}" if r["request_id"] == "ok" else r["request_id"]}
        for i, r in enumerate(rows)
    ]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ROWS)
def test_generated_junk_in_csv_never_raises_and_loses_no_row(
    seeded: Path, rows: list[dict]
) -> None:
    rows = [{k: _as_text(v) for k, v in r.items()} for r in _unique_ids(rows)]
    with tempfile.TemporaryDirectory() as folder:
        store = Store(Path(folder) / "s.duckdb")
        shutil.copy(seeded, store.path)
        path = hc.write_csv(Path(folder) / "junk.csv", rows)

        [result] = ingest_predictions(store, model="credit", files=[path])

        _check_nothing_is_lost(store, result, rows)
        with store.read() as r:
            raws = r.rows("SELECT line, raw FROM quarantine WHERE batch_id = ?", [result.batch_id])
        for line, raw in raws:  # kept as sent: the same text in every field
            assert json.loads(raw) == {k: (v or None) for k, v in rows[line - 1].items()}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(JSON_ROWS)
def test_generated_junk_in_json_lines_never_raises_and_loses_no_row(
    seeded: Path, rows: list[dict]
) -> None:
    rows = _unique_ids(rows)
    # Odd keys (empty, "Score" beside "score", ...) ride along; a row's own fields win.
    lines = [{**r.pop("extra keys", {}), **r} for r in rows]
    with tempfile.TemporaryDirectory() as folder:
        store = Store(Path(folder) / "s.duckdb")
        shutil.copy(seeded, store.path)
        path = hc.write_jsonl(Path(folder) / "junk.jsonl", lines)

        [result] = ingest_predictions(store, model="credit", files=[path])

        texts = [{**r, "request_id": _json_text(r["request_id"])} for r in rows]
        _check_nothing_is_lost(store, result, texts)


def _json_text(value: object) -> str | None:
    """The request id as the store keeps it: JSON scalars as their JSON text."""
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value)
