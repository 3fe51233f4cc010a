"""`modelbridge quarantine list | export | retry`, `ingest --range-tolerance`, and the data
quality aggregates (volume, latency, headline) on hand-counted stores."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core.auth import Identity
from core.cli import main
from core.ingest import ingest_predictions
from core.monitoring import data_quality, latency_bins
from core.monitoring.policy import update_settings
from core.registry import RegistrationSpec, features_of, get_model, get_version, register_version
from core.store import Store, log_tables
from tests.conftest import Ran, copy_store
from tests.factories import Case

CREDIT = ("--target", "defaulted", "--prediction", "score")
MISSING_SEGMENT = [2, 5, 7, 11, 13, 15]  # rows of the bad file (0-based) without a segment
SCORE_OVER_1 = {4: "1.5", 9: "2.0", 15: "3.0"}  # rows with a score outside 0-1
QUARANTINED = sorted({*MISSING_SEGMENT, *SCORE_OVER_1})


def modelbridge(capsys: pytest.CaptureFixture[str], *args: str | Path) -> Ran:
    """`modelbridge ARGS` in this process, as `python -m core` runs it."""
    try:
        code = main([str(a) for a in args])
    except SystemExit as exc:  # argparse's own exit
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return Ran(code, out, err)


def _ok(ran: Ran) -> object:
    assert ran.code == 0, (ran.code, ran.err)
    assert "Traceback" not in ran.err
    return ran.json()


def _rows(prefix: str, n: int) -> pd.DataFrame:
    """N log rows for 'credit' that pass every check: values well inside the reference."""
    return pd.DataFrame(
        {
            "request_id": [f"{prefix}-{i:02d}" for i in range(n)],
            "timestamp": pd.date_range("2026-03-02 08:00", periods=n, freq="10min", tz="UTC"),
            "income": 30000.0,
            "debt ratio": 30.0,
            "segment": ["retail", "sme"] * (n // 2) + ["retail"] * (n % 2),
            "score": 0.25,
            "latency_ms": 40.0,
        }
    )


def _bad_file(folder: Path) -> tuple[Path, pd.DataFrame]:
    rows = _rows("q", 20).astype(object)
    rows["timestamp"] = rows["timestamp"].map(lambda t: t.strftime("%Y-%m-%dT%H:%M:%SZ"))
    rows.loc[MISSING_SEGMENT, "segment"] = None
    for i, score in SCORE_OVER_1.items():
        rows.loc[i, "score"] = float(score)
    path = folder / "bad.csv"
    rows.to_csv(path, index=False)
    return path, rows


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory, binary_files: Case) -> Path:
    """'credit' v1 from the factory reference, nothing logged."""
    store = Store(tmp_path_factory.mktemp("quarantine") / "store.duckdb", lock_wait_seconds=30)
    store.init()
    register_version(store, spec=RegistrationSpec(
        model="credit", reference=binary_files.reference, target="defaulted", prediction="score",
        created_by="ci",
    ))  # fmt: skip
    return store.path


@pytest.fixture
def credit(template: Path, tmp_path: Path) -> Store:
    """A private copy of the template store."""
    return copy_store(template, tmp_path, lock_wait_seconds=30)


@pytest.fixture
def quarantined(
    credit: Store, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> tuple[Store, Path, dict]:
    """The copy after `ingest` of the bad file: its path and the ingest report."""
    path, _ = _bad_file(tmp_path)
    report = _ok(modelbridge(capsys, "ingest", "credit", path, "--json", "--no-alerts",
                             "--db", credit.path))  # fmt: skip
    return credit, path, report


def _q(capsys: pytest.CaptureFixture[str], store: Store, *args: str | Path) -> Ran:
    return modelbridge(capsys, "quarantine", *args, "--db", store.path)


def _counts(store: Store) -> dict[str, int]:
    """Rows logged, quarantined rows still open, all quarantined rows ever, batch sums."""
    with store.read() as r:
        table = log_tables.pred_table(get_model(r, name="credit").id)
        logged = r.rows(f"SELECT count(*) FROM {table}")[0][0]
        open_, ever = r.rows(
            "SELECT count(*) FILTER (WHERE retried_in IS NULL), count(*) FROM quarantine"
        )[0]
        ingested = r.rows("SELECT sum(rows_ingested) FROM batch")[0][0]
    return {"logged": logged, "open": open_, "ever": ever, "batches_ingested": int(ingested)}


# --- list and export --------------------------------------------------------------------------


def test_a_bad_file_is_accounted_for_row_by_row(quarantined: tuple[Store, Path, dict]) -> None:
    store, path, report = quarantined

    assert (report["rows_read"], report["rows_ingested"], report["rows_quarantined"]) == (
        20,
        20 - len(QUARANTINED),
        len(QUARANTINED),
    )
    assert report["reasons"] == {"missing:segment": 6, "prediction_outside_0_1": 3}
    assert report["flags"] == {}
    assert _counts(store) == {"logged": 12, "open": 8, "ever": 8, "batches_ingested": 12}


def test_quarantine_list_shows_each_batch_with_its_count_and_reasons_as_json(
    quarantined: tuple[Store, Path, dict], capsys: pytest.CaptureFixture[str]
) -> None:
    store, path, report = quarantined

    [batch] = _ok(_q(capsys, store, "list", "credit", "--json"))

    assert datetime.fromisoformat(batch.pop("quarantined_at")) > datetime(2026, 3, 2)
    assert batch == {
        "batch_id": report["batch_id"],
        "kind": "prediction",
        "source": str(path),
        "rows": 8,
        "reasons": ["missing:segment", "prediction_outside_0_1"],
    }


def test_quarantine_list_rows_shows_each_row_as_received_with_every_reason(
    quarantined: tuple[Store, Path, dict], capsys: pytest.CaptureFixture[str]
) -> None:
    store, path, report = quarantined

    shown = _ok(_q(capsys, store, "list", "credit", "--rows", "50", "--json"))
    only = _ok(_q(capsys, store, "list", "credit", "--rows", "50", "--reason",
                  "prediction_outside_0_1", "--json"))  # fmt: skip
    two = _ok(_q(capsys, store, "list", "credit", "--rows", "2", "--json"))
    text = _q(capsys, store, "list", "credit")

    assert [r["line"] for r in shown] == [i + 1 for i in QUARANTINED]  # data rows count from 1
    assert {r["batch_id"] for r in shown} == {report["batch_id"]}
    for row in shown:
        i = row["line"] - 1
        # in the order of the checks: the prediction's first, then each feature's
        expected = (["prediction_outside_0_1"] if i in SCORE_OVER_1 else []) + (
            ["missing:segment"] if i in MISSING_SEGMENT else []
        )
        assert row["reasons"] == expected
        raw = json.loads(row["raw"])
        assert raw["request_id"] == f"q-{i:02d}"
        assert raw["segment"] == (None if i in MISSING_SEGMENT else ["retail", "sme"][i % 2])
        assert raw["score"] == SCORE_OVER_1.get(i, "0.25")
    assert [r["line"] for r in only] == [i + 1 for i in sorted(SCORE_OVER_1)]
    assert [r["line"] for r in two] == [3, 5]
    assert text.code == 0
    header, line = text.out.splitlines()
    assert header.split()[:4] == ["batch_id", "kind", "source", "rows"]
    assert line.split()[:4] == [report["batch_id"], "prediction", str(path), "8"]


def test_quarantine_export_writes_exactly_the_quarantined_rows_to_csv(
    quarantined: tuple[Store, Path, dict], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store, path, report = quarantined
    out, some = tmp_path / "fix" / "quarantined.csv", tmp_path / "segment.csv"

    ran = _q(capsys, store, "export", "credit", "--out", out)
    part = _q(capsys, store, "export", "credit", "--reason", "missing:segment", "--out", some)

    assert (ran.code, ran.out, ran.err) == (0, f"8 prediction row(s) written to {out}\n", "")
    assert (part.code, part.out) == (0, f"6 prediction row(s) written to {some}\n")
    written = pd.read_csv(out, dtype=str, keep_default_na=False)
    sent = pd.read_csv(path, dtype=str, keep_default_na=False)
    assert list(written.columns) == [
        *sent.columns, "quarantine_source", "quarantine_line", "quarantine_batch",
        "quarantine_reasons",
    ]  # fmt: skip
    pd.testing.assert_frame_equal(
        written[list(sent.columns)], sent.iloc[QUARANTINED].reset_index(drop=True)
    )
    assert set(written["quarantine_source"]) == {str(path)}
    assert set(written["quarantine_batch"]) == {report["batch_id"]}
    assert written["quarantine_line"].tolist() == [str(i + 1) for i in QUARANTINED]
    assert written.loc[written["request_id"] == "q-15", "quarantine_reasons"].item() == (
        "prediction_outside_0_1; missing:segment"
    )
    assert pd.read_csv(some)["request_id"].tolist() == [f"q-{i:02d}" for i in MISSING_SEGMENT]


def test_quarantine_export_writes_one_kind_per_file_predictions_unless_asked_for_labels(
    quarantined: tuple[Store, Path, dict], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store, path, _ = quarantined
    labels = pd.DataFrame({"request_id": ["q-00", "nope-1", "nope-2"], "defaulted": [1, 0, 1]})
    labels.to_csv(tmp_path / "labels.csv", index=False)
    _ok(modelbridge(capsys, "labels", "credit", tmp_path / "labels.csv", "--json", "--no-alerts",
                    "--db", store.path))  # fmt: skip
    out, fixed_labels = tmp_path / "predictions.csv", tmp_path / "labels-to-fix.csv"

    ran = _q(capsys, store, "export", "credit", "--out", out)
    as_json = _ok(_q(capsys, store, "export", "credit", "--out", out, "--json"))
    other = _q(capsys, store, "export", "credit", "--kind", "label", "--out", fixed_labels)

    assert (ran.code, ran.out) == (0, f"8 prediction row(s) written to {out}\n")
    assert ran.err == "note: 2 label row(s) not exported; use --kind label\n"
    assert as_json == {"rows": 8, "kind": "prediction", "file": str(out)}
    quarantine_columns = ["quarantine_source", "quarantine_line", "quarantine_batch",
                          "quarantine_reasons"]  # fmt: skip
    written = pd.read_csv(out, dtype=str, keep_default_na=False)
    assert list(written.columns) == [*pd.read_csv(path).columns, *quarantine_columns]
    assert written["request_id"].tolist() == [f"q-{i:02d}" for i in QUARANTINED]
    assert (other.code, other.err) == (0, "note: 8 prediction row(s) not exported; use --kind "
                                          "prediction\n")  # fmt: skip
    sent_back = pd.read_csv(fixed_labels, dtype=str)
    assert list(sent_back.columns) == ["request_id", "defaulted", *quarantine_columns]
    assert sent_back[["request_id", "defaulted"]].values.tolist() == [["nope-1", "0"],
                                                                       ["nope-2", "1"]]  # fmt: skip
    assert set(sent_back["quarantine_reasons"]) == {"unknown_request_id"}


# --- retry ------------------------------------------------------------------------------------


def _register_v2_that_takes_a_missing_segment(store: Store, binary_files: Case, folder: Path):
    """v2: its reference has a blank segment in one row of ten, so a blank is only flagged."""
    reference = pd.read_csv(binary_files.reference)
    reference.loc[::10, "segment"] = None
    path = folder / "reference-v2.csv"
    reference.to_csv(path, index=False)
    register_version(store, spec=RegistrationSpec(
        model="credit", reference=path, target="defaulted", prediction="score", created_by="ci",
    ))  # fmt: skip


def test_a_retry_that_still_fails_keeps_each_row_quarantined_once(
    quarantined: tuple[Store, Path, dict], capsys: pytest.CaptureFixture[str]
) -> None:
    store, path, report = quarantined

    [again] = _ok(_q(capsys, store, "retry", "credit", "--json"))

    assert (again["rows_read"], again["rows_ingested"], again["rows_quarantined"]) == (8, 0, 8)
    assert again["source"] == f"retry of {path}"
    assert again["batch_id"] != report["batch_id"]
    assert _counts(store) == {"logged": 12, "open": 8, "ever": 16, "batches_ingested": 12}
    [batch] = _ok(_q(capsys, store, "list", "credit", "--json"))
    assert (batch["batch_id"], batch["rows"]) == (again["batch_id"], 8)


def test_a_retry_after_the_fix_ingests_what_now_passes_and_loses_nothing(
    quarantined: tuple[Store, Path, dict],
    binary_files: Case,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    store, path, report = quarantined
    _register_v2_that_takes_a_missing_segment(store, binary_files, tmp_path)

    [fixed] = _ok(_q(capsys, store, "retry", "credit", "--version", "2", "--json"))
    [still] = _ok(_q(capsys, store, "retry", "credit", "--version", "2", "--json"))
    nothing = _q(capsys, store, "retry", "credit", "--kind", "label")

    assert (fixed["rows_read"], fixed["rows_ingested"], fixed["rows_quarantined"]) == (8, 5, 3)
    assert fixed["reasons"] == {"prediction_outside_0_1": 3}
    assert fixed["flags"] == {"missing:segment": 5}  # kept, and counted as what they are
    assert (still["rows_read"], still["rows_ingested"], still["rows_quarantined"]) == (3, 0, 3)
    assert fixed["source"] == still["source"] == f"retry of {path}"  # not "retry of retry of"
    assert (nothing.code, nothing.out) == (0, "nothing to retry\n")
    # 20 rows read: 12 + 5 logged, 3 still open; every batch's ingested rows are in the log.
    assert _counts(store) == {"logged": 17, "open": 3, "ever": 8 + 3 + 3, "batches_ingested": 17}
    with store.read() as r:
        model = get_model(r, name="credit")
        stored = r.rows(
            f"SELECT version, list(request_id ORDER BY request_id) FROM "
            f"{log_tables.pred_table(model.id)} GROUP BY ALL ORDER BY 1"
        )
        volume = data_quality.volume(r, model=model)
    retried = [f"q-{i:02d}" for i in MISSING_SEGMENT if i not in SCORE_OVER_1]
    assert stored[1] == (2, retried)
    assert len(stored[0][1]) == 12 and not set(stored[0][1]) & set(retried)
    assert volume[["received", "ingested", "quarantined"]].values.tolist() == [[20, 17, 3]]
    [open_batch] = _ok(_q(capsys, store, "list", "credit", "--json"))
    assert (open_batch["batch_id"], open_batch["rows"]) == (still["batch_id"], 3)
    assert open_batch["reasons"] == ["missing:segment", "prediction_outside_0_1"]


def test_rows_fixed_by_hand_and_ingested_as_a_new_file_leave_the_quarantine(
    quarantined: tuple[Store, Path, dict],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # A tester exported, fixed and ingested the rows as a new file: the quarantine kept them
    # open, and each retry quarantined them again as duplicates of themselves.
    store, _, _ = quarantined
    exported = tmp_path / "export.csv"
    _q(capsys, store, "export", "credit", "--out", exported)
    rows = pd.read_csv(exported)
    fixable = rows[rows["score"] <= 1].assign(segment="retail")  # the missing segments
    fixable.to_csv(tmp_path / "fixed.csv", index=False)

    report = _ok(modelbridge(capsys, "ingest", "credit", tmp_path / "fixed.csv", "--json",
                             "--no-alerts", "--db", store.path))  # fmt: skip
    text = modelbridge(capsys, "ingest", "credit", tmp_path / "fixed.csv", "--db", store.path)
    [still] = _ok(_q(capsys, store, "retry", "credit", "--json"))

    assert (report["rows_ingested"], report["resolved_from_quarantine"]) == (5, 5)
    assert "already ingested" in text.out  # the same content again changes nothing
    assert (still["rows_read"], still["rows_ingested"]) == (3, 0)
    # Row 15 lacked a segment too, and no duplicate_request_id_in_store anywhere.
    assert still["reasons"] == {"prediction_outside_0_1": 3, "missing:segment": 1}
    assert _counts(store)["open"] == 3


def test_a_fixed_file_says_how_many_quarantined_rows_it_resolved(
    quarantined: tuple[Store, Path, dict],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    store, _, _ = quarantined
    _, rows = _bad_file(tmp_path)
    rows.loc[MISSING_SEGMENT, "segment"] = "sme"
    rows.loc[MISSING_SEGMENT].to_csv(tmp_path / "segments.csv", index=False)

    ran = modelbridge(capsys, "ingest", "credit", tmp_path / "segments.csv", "--db", store.path)

    assert ran.code == 0
    # Row 15 also had a score of 3.0: it is quarantined again, and its old row stays open too.
    assert ran.out.splitlines()[1:] == [
        "  note: 5 row(s) quarantined earlier are now ingested and no longer open in the quarantine"
    ]
    assert _counts(store)["open"] == 3 + 1


def test_retry_text_says_how_many_reasons_it_does_not_name(
    credit: Store, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = _rows("r", 8).astype(object)
    broken = {0: ("segment", None), 1: ("score", 1.5), 2: ("latency_ms", -5.0),
              3: ("latency_ms", "slow"), 4: ("timestamp", "2031-01-01T00:00:00Z"),
              5: ("timestamp", "yesterday"), 6: ("score", "high")}  # fmt: skip
    for i, (column, value) in broken.items():
        rows.loc[i, column] = value
    path = tmp_path / "seven.csv"
    rows.to_csv(path, index=False)
    _ok(modelbridge(capsys, "ingest", "credit", path, "--json", "--no-alerts",
                    "--db", credit.path))  # fmt: skip

    ran = _q(capsys, credit, "retry", "credit")

    assert ran.code == 0, ran.err
    [line] = ran.out.splitlines()
    batch = line.rsplit("[batch ", 1)[1].rstrip("]")
    # Seven reasons, one row each, named in alphabetical order: five shown, two counted.
    assert line == (
        f"retry of {path}: 7 read, 0 ingested, 7 quarantined (bad_latency 1, bad_prediction 1, "
        "bad_timestamp 1, future_timestamp 1, missing:segment 1, and 2 more reason(s)) "
        f"[batch {batch}]"
    )


# --- ingest --range-tolerance -----------------------------------------------------------------


def test_range_tolerance_widens_the_range_before_a_value_is_flagged_and_rows_are_kept(
    credit: Store, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with credit.read() as r:
        debt = {f.name: f for f in features_of(get_version(r, model=get_model(r, name="credit")))}[
            "debt ratio"
        ]
    slack = 0.1 * max(debt.max - debt.min, abs(debt.max))  # core.ingest.validation.feature_checks
    values = [debt.max + 0.5 * slack, debt.min - 0.5 * slack, debt.max + 2 * slack, 30.0]
    files = {}
    for name in ("strict", "tolerant"):
        rows = _rows(name, 4).assign(**{"debt ratio": values})
        files[name] = tmp_path / f"{name}.parquet"
        rows.to_parquet(files[name], index=False)
    db = ("--json", "--no-alerts", "--db", credit.path)

    strict = _ok(modelbridge(capsys, "ingest", "credit", files["strict"], *db))
    tolerant = _ok(modelbridge(capsys, "ingest", "credit", files["tolerant"],
                               "--range-tolerance", "0.1", *db))  # fmt: skip
    negative = modelbridge(capsys, "ingest", "credit", files["tolerant"],
                           "--range-tolerance", "-0.1", *db)  # fmt: skip

    assert (strict["rows_ingested"], strict["rows_quarantined"]) == (4, 0)
    assert strict["flags"] == {"out_of_range:debt ratio": 3}
    assert (tolerant["rows_ingested"], tolerant["rows_quarantined"]) == (4, 0)
    assert tolerant["flags"] == {"out_of_range:debt ratio": 1}
    assert (negative.code, negative.out) == (2, "")
    assert negative.err == "modelbridge: error: --range-tolerance must be zero or positive\n"
    with credit.read() as r:
        model = get_model(r, name="credit")
        kept = r.rows(
            f"SELECT {debt.column} FROM {log_tables.pred_table(model.id)} "
            "WHERE request_id LIKE 'tolerant-%' ORDER BY request_id"
        )
    assert [v for (v,) in kept] == pytest.approx(values)  # flagged or not, stored as sent


# --- core.monitoring.data_quality on a hand-counted store ----------------------------------------

DAY1, DAY2 = "2026-03-02", "2026-03-03"  # a Monday and a Tuesday
DAY1_LATENCY = [10.0, 20.0, 30.0, 400.0]
DAY2_LATENCY = [100.0, 200.0, 300.0]


def _quality_store(folder: Path) -> Store:
    """Model 'q': on DAY1 four good rows, on DAY2 three good rows, two scores over 1 and one
    row without x (six received, three quarantined)."""
    store = Store(folder / "quality.duckdb", lock_wait_seconds=30)
    store.init()
    n = 200
    reference = pd.DataFrame(
        {
            "x": [10.0 * i / (n - 1) for i in range(n)],
            "c": ["a", "b"] * (n // 2),
            "score": [0.1 + 0.8 * i / (n - 1) for i in range(n)],
            "y": [0, 1] * (n // 2),
        }
    )
    reference.to_parquet(folder / "q-reference.parquet")
    register_version(store, spec=RegistrationSpec(
        model="q", reference=folder / "q-reference.parquet", target="y", prediction="score",
    ))  # fmt: skip
    good = [(DAY1, lat) for lat in DAY1_LATENCY] + [(DAY2, lat) for lat in DAY2_LATENCY]
    rows = [{"x": 5.0, "score": 0.4, "day": day, "latency_ms": lat} for day, lat in good]
    rows += [{"x": 5.0, "score": 1.7, "day": DAY2, "latency_ms": 5.0}] * 2
    rows += [{"x": None, "score": 0.4, "day": DAY2, "latency_ms": 5.0}]
    logged = pd.DataFrame(rows)
    logged["request_id"] = [f"q-{i}" for i in range(len(logged))]
    logged["timestamp"] = [f"{d}T{9 + i}:00:00Z" for i, d in enumerate(logged.pop("day"))]
    logged["c"] = "a"
    logged.to_csv(folder / "q-logs.csv", index=False)
    [result] = ingest_predictions(store, model="q", files=[folder / "q-logs.csv"])
    assert (result.rows_ingested, result.rows_quarantined) == (7, 3), result
    return store


@pytest.fixture(scope="module")
def quality_store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    return _quality_store(tmp_path_factory.mktemp("quality"))


def test_volume_counts_received_ingested_and_quarantined_rows_per_period(
    quality_store: Store,
) -> None:
    with quality_store.read() as r:
        model = get_model(r, name="q")
        daily = data_quality.volume(r, model=model, period="D")
        weekly = data_quality.volume(r, model=model, period="W")
        since = data_quality.volume(r, model=model, period="D", since=datetime(2026, 3, 3))
        why = data_quality.reasons(r, model=model, period="D")

    columns = ["period", "received", "ingested", "quarantined", "quarantined_share"]
    assert list(daily.columns) == columns
    assert [tuple(row) for row in daily.itertuples(index=False)] == [
        (pd.Timestamp(DAY1), 4, 4, 0, 0.0),
        (pd.Timestamp(DAY2), 6, 3, 3, 0.5),
    ]
    assert [tuple(row) for row in weekly.itertuples(index=False)] == [
        (pd.Timestamp(DAY1), 10, 7, 3, 0.3)
    ]
    assert [tuple(row) for row in since.itertuples(index=False)] == [
        (pd.Timestamp(DAY2), 6, 3, 3, 0.5)
    ]
    assert [tuple(row) for row in why.itertuples(index=False)] == [
        (pd.Timestamp(DAY2), "prediction_outside_0_1", 2, pytest.approx(2 / 6)),
        (pd.Timestamp(DAY2), "missing:x", 1, pytest.approx(1 / 6)),
    ]


def _quantile(values: list[float], q: float) -> float:
    """Linear interpolation between order statistics (DuckDB's quantile_cont), by hand."""
    ordered = sorted(values)
    position = q * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (position - low) * (ordered[high] - ordered[low])


def _binned(values: list[float], q: float) -> float:
    """The quantile data_quality reads from its 1%-wide latency bins, the bins found in NumPy."""
    x = np.asarray(values)
    bins, counts = np.unique(np.floor((np.log10(x) + 2) * latency_bins.PER_DECADE) + 1,
                             return_counts=True)  # fmt: skip
    found = latency_bins.quantiles(bins.astype(int), counts, [q])[0]
    assert found == pytest.approx(_quantile(values, q), rel=latency_bins.RELATIVE_WIDTH)
    return float(found)  # type: ignore[arg-type]


def test_latency_percentiles_and_the_share_over_the_slo_per_day(quality_store: Store) -> None:
    with quality_store.read() as r:
        found = data_quality.latency(r, model=get_model(r, name="q"), period="D")

    assert found["period"].tolist() == [pd.Timestamp(DAY1), pd.Timestamp(DAY2)]
    # from 1%-wide bins: within 1% of the exact quantiles (25, 200; 344.5, 290; 388.9, 298)
    for name, q in (("latency_p50", 0.5), ("latency_p95", 0.95), ("latency_p99", 0.99)):
        exact = [_quantile(DAY1_LATENCY, q), _quantile(DAY2_LATENCY, q)]
        assert found[name].tolist() == pytest.approx(exact, rel=latency_bins.RELATIVE_WIDTH)
        assert found[name].tolist() == pytest.approx(
            [_binned(DAY1_LATENCY, q), _binned(DAY2_LATENCY, q)], rel=1e-12
        )
    assert found["over_slo_share"].tolist() == pytest.approx([1 / 4, 1 / 3])
    assert found["measured"].tolist() == [4, 3]  # quarantined rows have no say
    assert set(found["slo_ms"]) == {data_quality.DEFAULT_LATENCY_SLO_MS}


def test_the_headline_names_the_share_rejected_its_main_cause_and_the_p95(
    quality_store: Store,
) -> None:
    with quality_store.read() as r:
        model = get_model(r, name="q")
        daily = data_quality.headline(r, model=model, period="D")
        weekly = data_quality.headline(r, model=model, period="W")

    assert daily == data_quality.Headline(
        "2026-03-03",
        "50.0% of the 6 requests on 3 Mar 2026 were rejected, mostly a score outside 0–1 "
        f"(2 rows). Latency p95 was {_binned(DAY2_LATENCY, 0.95):,.0f} ms, over the 250 ms "
        "target.",
        "error",
    )
    assert _quantile(DAY1_LATENCY + DAY2_LATENCY, 0.95) == pytest.approx(370.0)
    week_p95 = _binned(DAY1_LATENCY + DAY2_LATENCY, 0.95)
    assert weekly == data_quality.Headline(
        "2026-03-02",
        "30.0% of the 10 requests in the week of 2 Mar 2026 were rejected, mostly a score "
        f"outside 0–1 (2 rows). Latency p95 was {week_p95:,.0f} ms, over the 250 ms target.",
        "error",
    )


def test_a_wider_latency_slo_from_the_settings_changes_share_and_verdict(tmp_path: Path) -> None:
    store = _quality_store(tmp_path)
    update_settings(
        store, model="q", changes={"latency_slo_ms": "300"}, by=Identity("erin", "ml_engineer")
    )

    with store.read() as r:
        model = get_model(r, name="q")
        found = data_quality.latency(r, model=model, period="D")
        daily = data_quality.headline(r, model=model, period="D")

    assert found["over_slo_share"].tolist() == pytest.approx([1 / 4, 0.0])  # 300 is not over
    assert set(found["slo_ms"]) == {300.0}
    p95 = _binned(DAY2_LATENCY, 0.95)
    assert daily.text.endswith(f"Latency p95 was {p95:,.0f} ms, within the 300 ms target.")


def test_a_clean_day_reads_as_passed_and_a_slow_one_as_a_warning(
    credit: Store, tmp_path: Path
) -> None:
    with credit.read() as r:
        empty = data_quality.headline(r, model=get_model(r, name="credit"))
    rows = _rows("clean", 3).assign(latency_ms=[100.0, 900.0, 1000.0])
    rows.to_parquet(tmp_path / "clean.parquet", index=False)
    ingest_predictions(credit, model="credit", files=[tmp_path / "clean.parquet"])
    with credit.read() as r:
        slow = data_quality.headline(r, model=get_model(r, name="credit"))

    assert empty == data_quality.Headline(None, "No traffic has been logged yet.", "ok")
    p95 = _binned([100.0, 900.0, 1000.0], 0.95)
    assert slow == data_quality.Headline(
        "2026-03-02",
        f"All 3 requests on 2 Mar 2026 passed the checks. Latency p95 was {p95:,.0f} ms, over "
        "the 250 ms target.",
        "warning",
    )


def test_requests_without_a_latency_do_not_dilute_the_share_over_the_slo(tmp_path: Path) -> None:
    store = _quality_store(tmp_path)
    unmeasured = pd.DataFrame(
        {"x": [5.0] * 4, "score": [0.4] * 4, "request_id": [f"u-{i}" for i in range(4)],
         "timestamp": [f"{DAY1}T20:0{i}:00Z" for i in range(4)], "c": ["a"] * 4}
    )  # fmt: skip
    unmeasured.to_csv(tmp_path / "unmeasured.csv", index=False)
    ingest_predictions(store, model="q", files=[tmp_path / "unmeasured.csv"])

    with store.read() as r:
        found = data_quality.latency(r, model=get_model(r, name="q"), period="D")

    # DAY1: 8 requests, 4 with a latency, one of them over the SLO.
    assert found["measured"].tolist() == [4, 3]
    assert found["over_slo_share"].tolist() == pytest.approx([1 / 4, 1 / 3])
