"""Ingesting prediction logs and late labels: accounting, quarantine, idempotence (foundation)."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pandas as pd
import pytest

from core.ingest import BatchResult, ingest_labels, ingest_predictions, jobs
from core.registry import features_of, get_model, get_version
from core.store import Store, log_tables
from tests.conftest import run_cli
from tests.factories import FEATURES, Case


def _pred_table(store: Store) -> str:
    with store.read() as r:
        return log_tables.pred_table(get_model(r, name="credit").id)


def _count(store: Store, sql: str, params: list | None = None) -> int:
    with store.read() as r:
        return r.rows(sql, params)[0][0]


def _ingest(store: Store, path: Path) -> BatchResult:
    [result] = ingest_predictions(store, model="credit", files=[path])
    return result


def _labels(store: Store, path: Path) -> BatchResult:
    [result] = ingest_labels(store, model="credit", files=[path])
    return result


def _dirty_logs(case: Case, path: Path) -> pd.DataFrame:
    """20 log rows as text, six of them unusable in a different way each."""
    rows = case.frame.head(20).copy()
    rows["timestamp"] = rows["timestamp"].dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    rows = rows.astype(str)
    rows.loc[2, "request_id"] = ""
    rows.loc[4, "income"] = "lots"
    rows.loc[6, "score"] = "1.7"
    rows.loc[8, "request_id"] = rows.loc[7, "request_id"]
    rows.loc[10, "timestamp"] = "yesterday"
    rows.loc[12, "segment"] = ""
    rows.to_csv(path, index=False)
    return rows


DIRTY_REASONS = {
    3: "missing_request_id",
    5: "wrong_type:income",
    7: "prediction_outside_0_1",
    9: "duplicate_request_id_in_file",
    11: "bad_timestamp",
    13: "missing:segment",
}


def test_every_row_read_is_either_ingested_or_quarantined(
    credit_store: Store, binary_files: Case, tmp_path: Path
) -> None:
    _dirty_logs(binary_files, tmp_path / "dirty.csv")

    result = _ingest(credit_store, tmp_path / "dirty.csv")

    assert (result.rows_read, result.rows_ingested, result.rows_quarantined) == (20, 14, 6)
    assert result.reasons == {reason: 1 for reason in DIRTY_REASONS.values()}
    table = _pred_table(credit_store)
    assert _count(credit_store, f"SELECT count(*) FROM {table}") == 14
    assert _count(credit_store, "SELECT count(*) FROM quarantine") == 6
    with credit_store.read() as r:
        batch = r.rows(
            "SELECT batch_id, kind, rows_read, rows_ingested, rows_quarantined FROM batch"
        )
    assert batch == [(result.batch_id, "prediction", 20, 14, 6)]


def test_a_malformed_row_counts_once_and_later_rows_keep_their_row_numbers(
    credit_store: Store, binary_files: Case, tmp_path: Path
) -> None:
    binary_files.frame.head(6).to_csv(tmp_path / "ragged.csv", index=False)
    lines = (tmp_path / "ragged.csv").read_text().splitlines()
    lines[3] += ",two,extra"  # data row 3 breaks two parser rules
    lines[5] = lines[5].replace(binary_files.frame.loc[4, "request_id"], "")  # data row 5
    (tmp_path / "ragged.csv").write_text("\n".join(lines) + "\n")

    result = _ingest(credit_store, tmp_path / "ragged.csv")

    assert (result.rows_read, result.rows_ingested, result.rows_quarantined) == (6, 4, 2)
    assert result.reasons == {"malformed_row": 1, "missing_request_id": 1}
    with credit_store.read() as r:
        kept = r.rows("SELECT line, reasons[1], raw FROM quarantine ORDER BY line")
    assert [(line, reason) for line, reason, _ in kept] == [
        (3, "malformed_row"),
        (5, "missing_request_id"),
    ]
    assert json.loads(kept[0][2]) == {"line": lines[3]}


def test_quarantined_rows_are_kept_whole_with_their_reasons(
    credit_store: Store, binary_files: Case, tmp_path: Path
) -> None:
    sent = _dirty_logs(binary_files, tmp_path / "dirty.csv")

    result = _ingest(credit_store, tmp_path / "dirty.csv")

    with credit_store.read() as r:
        kept = r.rows(
            "SELECT line, reasons, raw, batch_id, kind, source FROM quarantine ORDER BY line"
        )
    assert [row[0] for row in kept] == list(DIRTY_REASONS)
    for line, reasons, raw, batch_id, kind, source in kept:
        assert DIRTY_REASONS[line] in reasons
        original = sent.iloc[line - 1].to_dict()
        assert json.loads(raw) == {k: (v if v != "" else None) for k, v in original.items()}
        assert (batch_id, kind, source) == (
            result.batch_id,
            "prediction",
            str(tmp_path / "dirty.csv"),
        )


def test_ingested_predictions_keep_the_values_sent(credit_store: Store, binary_files: Case) -> None:
    result = _ingest(credit_store, binary_files.logs)

    assert (result.rows_read, result.rows_ingested, result.rows_quarantined) == (400, 400, 0)
    with credit_store.read() as r:
        version = get_version(r, model=get_model(r, name="credit"))
        columns = ", ".join(f'{f.column} AS "{f.name}"' for f in features_of(version))
        stored = r.frame(
            f"SELECT request_id, version, ts, score, latency_ms, {columns} "
            f"FROM {_pred_table(credit_store)} ORDER BY request_id"
        )
    sent = binary_files.frame.sort_values("request_id").reset_index(drop=True)
    assert stored["request_id"].tolist() == sent["request_id"].tolist()
    assert set(stored["version"]) == {1}
    assert stored["ts"].tolist() == sent["timestamp"].dt.tz_localize(None).tolist()
    pd.testing.assert_series_equal(stored["score"], sent["score"], check_names=False)
    pd.testing.assert_series_equal(stored["latency_ms"], sent["latency_ms"], check_names=False)
    pd.testing.assert_frame_equal(stored[FEATURES], sent[FEATURES], check_dtype=False)


def test_values_outside_the_reference_range_are_flagged_but_kept(
    credit_store: Store, binary_files: Case
) -> None:
    reference = pd.read_csv(binary_files.reference)
    debt = binary_files.frame["debt ratio"]
    outside = int(
        ((debt < reference["debt ratio"].min()) | (debt > reference["debt ratio"].max())).sum()
    )

    result = _ingest(credit_store, binary_files.logs)

    assert outside > 0
    assert result.flags == {"out_of_range:debt ratio": outside}
    assert result.rows_ingested == 400


def test_ingesting_the_same_file_twice_is_a_no_op(credit_store: Store, binary_files: Case) -> None:
    first = _ingest(credit_store, binary_files.logs)
    revision = credit_store.revision()

    again = _ingest(credit_store, binary_files.logs)

    assert again.duplicate_of == first.batch_id
    assert (again.batch_id, again.rows_read, again.rows_ingested) == (None, 0, 0)
    assert _count(credit_store, f"SELECT count(*) FROM {_pred_table(credit_store)}") == 400
    assert _count(credit_store, "SELECT count(*) FROM batch") == 1
    assert credit_store.revision() == revision


def test_a_file_interrupted_mid_ingest_leaves_nothing_behind(
    credit_store: Store, binary_files: Case, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _dirty_logs(binary_files, tmp_path / "dirty.csv")

    def crash(*args: object) -> None:
        raise RuntimeError("power cut after the rows were written")

    with monkeypatch.context() as patched:
        patched.setattr(jobs, "_record_batch", crash)
        with pytest.raises(RuntimeError):
            _ingest(credit_store, tmp_path / "dirty.csv")

    table = _pred_table(credit_store)
    assert _count(credit_store, f"SELECT count(*) FROM {table}") == 0
    assert _count(credit_store, "SELECT count(*) FROM quarantine") == 0
    assert _ingest(credit_store, tmp_path / "dirty.csv").rows_ingested == 14


def test_a_file_without_the_models_columns_is_refused_whole(
    credit_store: Store, binary_files: Case
) -> None:
    result = _ingest(credit_store, binary_files.labels)

    assert result.error is not None
    assert "missing required column(s)" in result.error
    assert "'score' (prediction)" in result.error
    assert result.batch_id is None
    assert _count(credit_store, "SELECT count(*) FROM batch") == 0
    assert _count(credit_store, "SELECT count(*) FROM quarantine") == 0


def test_naive_timestamps_mean_utc_whatever_the_machines_time_zone(
    credit_store: Store, binary_files: Case, tmp_path: Path
) -> None:
    rows = binary_files.frame.head(2).drop(columns="timestamp")
    rows.insert(0, "timestamp", ["2026-03-01T09:30:00", "01/03/2026 09:30:00"])
    rows.to_csv(tmp_path / "naive.csv", index=False)

    ran = run_cli(
        "ingest",
        "credit",
        tmp_path / "naive.csv",
        "--json",
        db=credit_store.path,
        env={"TZ": "America/New_York"},
    )

    assert ran.code == 0, ran.err
    assert ran.json()["rows_ingested"] == 2
    with credit_store.read() as r:
        stamps = r.rows(f"SELECT ts FROM {_pred_table(credit_store)}")
    assert [s[0] for s in stamps] == [datetime(2026, 3, 1, 9, 30)] * 2


# --- labels ----------------------------------------------------------------------------------


@pytest.fixture
def logged_store(credit_store: Store, binary_files: Case) -> Store:
    """credit v1 with its 400 logged predictions (req-00000 ... req-00399)."""
    assert _ingest(credit_store, binary_files.logs).rows_ingested == 400
    return credit_store


def _label_file(path: Path, rows: list[tuple[str, object]]) -> Path:
    pd.DataFrame(rows, columns=["request_id", "defaulted"]).to_csv(path, index=False)
    return path


def _stored_labels(store: Store) -> list[tuple[str, str, float]]:
    with store.read() as r:
        return r.rows("SELECT request_id, label, y FROM label ORDER BY request_id, label")


def test_labels_are_stored_against_their_predictions(
    logged_store: Store, binary_files: Case
) -> None:
    sent = pd.read_csv(binary_files.labels)

    result = _labels(logged_store, binary_files.labels)

    assert (result.rows_read, result.rows_ingested, result.rows_quarantined) == (200, 200, 0)
    expected = sorted(
        (rid, str(label), float(label))
        for rid, label in zip(sent["request_id"], sent["defaulted"], strict=True)
    )
    assert _stored_labels(logged_store) == expected


def test_labels_for_unknown_request_ids_are_quarantined(
    logged_store: Store, tmp_path: Path
) -> None:
    path = _label_file(
        tmp_path / "labels.csv",
        [("req-00001", 1), ("nobody-1", 0), ("req-00003", 0), ("nobody-2", 1)],
    )

    result = _labels(logged_store, path)

    assert (result.rows_read, result.rows_ingested, result.rows_quarantined) == (4, 2, 2)
    assert result.reasons == {"unknown_request_id": 2}
    assert _stored_labels(logged_store) == [("req-00001", "1", 1.0), ("req-00003", "0", 0.0)]
    with logged_store.read() as r:
        kept = r.rows("SELECT line, reasons, raw FROM quarantine WHERE kind = 'label' ORDER BY 1")
    assert [(line, reasons) for line, reasons, _ in kept] == [
        (2, ["unknown_request_id"]),
        (4, ["unknown_request_id"]),
    ]
    assert json.loads(kept[0][2]) == {"request_id": "nobody-1", "defaulted": "0"}


def test_two_different_labels_for_one_request_in_a_file_are_both_quarantined(
    logged_store: Store, tmp_path: Path
) -> None:
    path = _label_file(
        tmp_path / "labels.csv", [("req-00001", 1), ("req-00001", 0), ("req-00003", 1)]
    )

    result = _labels(logged_store, path)

    assert (result.rows_read, result.rows_ingested, result.rows_quarantined) == (3, 1, 2)
    assert result.reasons == {"conflicting_labels_in_file": 2}
    assert _stored_labels(logged_store) == [("req-00003", "1", 1.0)]


def test_a_label_sent_again_is_quarantined_as_already_labelled(
    logged_store: Store, tmp_path: Path
) -> None:
    _labels(logged_store, _label_file(tmp_path / "a.csv", [("req-00001", 1), ("req-00003", 0)]))

    again = _labels(
        logged_store,
        _label_file(tmp_path / "b.csv", [("req-00001", 1), ("req-00003", 0), ("req-00005", 1)]),
    )
    changed = _labels(logged_store, _label_file(tmp_path / "c.csv", [("req-00001", 0)]))

    assert (again.rows_ingested, again.reasons) == (1, {"already_labelled": 2})
    assert (changed.rows_ingested, changed.reasons) == (0, {"conflicts_with_stored_label": 1})
    assert _stored_labels(logged_store) == [
        ("req-00001", "1", 1.0),
        ("req-00003", "0", 0.0),
        ("req-00005", "1", 1.0),
    ]
