"""The credit-risk scenario generator: determinism, bookkeeping, injected drift and labels."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import skops.io as sio
from sklearn.metrics import roc_auc_score

from data.simulator import ScenarioFiles, simulate

# Reviewed by hand: both are plain containers sklearn's tree models are built from.
REVIEWED_TYPES = {"numpy.dtype", "sklearn.tree._tree.Tree"}
KNOWN = {
    "employment_type": {"salaried", "self_employed", "contractor", "unemployed", "retired"},
    "home_ownership": {"rent", "mortgage", "own"},
    "purpose": {"car", "home_improvement", "debt_consolidation", "education", "travel", "business"},
}
UTC_START = pd.Timestamp("2026-05-01", tz="UTC")


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> ScenarioFiles:
    return simulate(tmp_path_factory.mktemp("small"), days=10, per_day=300)


@pytest.fixture(scope="module")
def long(tmp_path_factory: pytest.TempPathFactory) -> ScenarioFiles:
    return simulate(tmp_path_factory.mktemp("long"), days=120, per_day=200)


def _truth(files: ScenarioFiles) -> dict:
    return json.loads(files.truth.read_text())


def _features(files: ScenarioFiles) -> list[str]:
    return list(json.loads(files.feature_metadata.read_text()))


def _logs(files: ScenarioFiles) -> pd.DataFrame:
    """All log rows, with income parsed back to numbers (junk becomes NaN)."""
    frames = [pd.read_parquet(p).assign(file=p.name) for p in files.log_files]
    logs = pd.concat(frames, ignore_index=True)
    logs["income"] = pd.to_numeric(logs["income"], errors="coerce")
    return logs


def _labels(files: ScenarioFiles) -> pd.DataFrame:
    frames = [
        pd.read_csv(p).assign(week_start=pd.Timestamp(p.stem.removeprefix("labels_"), tz="UTC"))
        for p in files.label_files
    ]
    return pd.concat(frames, ignore_index=True)


def _load(path: Path):
    untrusted = sio.get_untrusted_types(file=path)
    assert set(untrusted) <= REVIEWED_TYPES
    return sio.load(path, trusted=untrusted)


def _all_bytes(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def test_same_inputs_give_identical_bytes(small: ScenarioFiles, tmp_path: Path) -> None:
    # A longer earlier run in the same folder must not leave extra days behind.
    simulate(tmp_path, days=12, per_day=300)
    again = simulate(tmp_path, days=10, per_day=300)
    assert _all_bytes(again.out_dir) == _all_bytes(small.out_dir)


def test_other_seed_gives_other_data(small: ScenarioFiles, tmp_path: Path) -> None:
    other = simulate(tmp_path, days=10, per_day=300, seed=8)
    assert other.log_files[0].read_bytes() != small.log_files[0].read_bytes()


def test_returned_paths_exist_and_are_ordered(small: ScenarioFiles) -> None:
    assert [p.name for p in small.log_files] == [
        f"log_{date(2026, 5, 1) + timedelta(days=d)}.parquet" for d in range(10)
    ]
    assert small.label_files == []  # nothing can arrive within 30 days
    for path in (small.champion_reference, small.challenger_reference, small.truth):
        assert path.is_file()


def test_truth_row_counts_match_files(long: ScenarioFiles) -> None:
    truth = _truth(long)
    logs = _logs(long)
    assert logs.groupby("file").size().to_dict() == truth["rows_per_file"]
    assert len(logs) == truth["total_rows"]
    assert len(truth["rows_per_file"]) == 120
    weekday = logs["timestamp"].dt.day_of_week
    per_day = logs.groupby([logs["timestamp"].dt.date, weekday]).size()
    by_weekday = per_day.groupby(level=1).mean()
    assert by_weekday[6] < 0.8 * by_weekday[:5].mean()  # quieter Sundays
    assert 180 < per_day.mean() < 220

    labels = _labels(long)
    counts = {p.name: len(pd.read_csv(p)) for p in long.label_files}
    assert counts == truth["labels"]["rows_per_file"]
    assert len(labels) == truth["labels"]["labelled_requests"]


def test_dirty_rows_counted_per_file(long: ScenarioFiles) -> None:
    truth = _truth(long)["dirty_rows"]
    features = _features(long)
    for path in long.log_files:
        raw = pd.read_parquet(path)
        frame = raw.assign(income=pd.to_numeric(raw["income"], errors="coerce"))
        expected = truth["per_file"][path.name]
        assert raw["request_id"].duplicated().sum() == expected["duplicate_request_id"]
        junk = raw["income"].notna() & frame["income"].isna()
        assert junk.sum() == expected["wrong_type"]
        unknown = sum(
            (~frame[c].isin(known) & frame[c].notna()).sum() for c, known in KNOWN.items()
        )
        assert unknown == expected["unknown_category"]
        out_of_range = (
            ~frame["age"].between(18, 80)
            | (frame["loan_amount"] < 0)
            | (frame["debt_to_income"] > 100)
            | (frame["credit_history_years"] < 0)
        ) & frame[["age", "loan_amount", "debt_to_income", "credit_history_years"]].notna().all(
            axis=1
        )
        assert out_of_range.sum() == expected["out_of_range"]
        blanks = frame[[f for f in features if f != "income"]].isna().any(axis=1)
        assert blanks.sum() == expected["missing_value"]
        if path.name in truth["wrong_type_files"]:
            assert pd.api.types.is_string_dtype(raw["income"])
        else:
            assert pd.api.types.is_float_dtype(raw["income"])
    total = sum(truth["total"].values())
    assert 0.02 < total / _truth(long)["total_rows"] < 0.04
    assert all(n > 0 for n in truth["total"].values())


def test_request_ids_unique_except_injected_duplicates(long: ScenarioFiles) -> None:
    truth = _truth(long)
    ids = pd.concat(
        [
            pd.read_csv(long.champion_reference)["request_id"],
            pd.read_parquet(long.challenger_reference)["request_id"],
            _logs(long)["request_id"],
        ]
    )
    assert ids.str.fullmatch(r"req-\d{9}").all()
    assert ids.duplicated().sum() == truth["dirty_rows"]["total"]["duplicate_request_id"]


def test_scores_reproduce_from_saved_models(small: ScenarioFiles) -> None:
    champion = _load(small.champion_model)
    challenger = _load(small.challenger_model)
    features = _features(small)
    assert list(champion.feature_names_in_) == features
    for path in small.log_files:
        frame = pd.read_parquet(path)
        frame["income"] = pd.to_numeric(frame["income"], errors="coerce")
        np.testing.assert_array_equal(champion.predict_proba(frame[features])[:, 1], frame["score"])
    champion_ref = pd.read_csv(small.champion_reference)
    np.testing.assert_array_equal(
        champion.predict_proba(champion_ref[features])[:, 1], champion_ref["score"]
    )
    challenger_ref = pd.read_parquet(small.challenger_reference)
    np.testing.assert_array_equal(
        challenger.predict_proba(challenger_ref[features])[:, 1], challenger_ref["score"]
    )


def test_timestamps_are_utc_and_within_their_day(small: ScenarioFiles) -> None:
    raw = pd.read_csv(small.champion_reference, dtype={"timestamp": str})
    assert raw["timestamp"].str.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ").all()
    assert pd.to_datetime(raw["timestamp"]).max() < UTC_START
    for path in small.log_files:
        stamps = pd.read_parquet(path)["timestamp"]
        assert str(stamps.dt.tz) == "UTC"
        assert stamps.is_monotonic_increasing
        assert (stamps.dt.strftime("%Y-%m-%d") == path.stem.removeprefix("log_")).all()


def test_reference_rows_are_clean_with_realistic_population(small: ScenarioFiles) -> None:
    ref = pd.read_csv(small.champion_reference)
    assert list(ref.columns) == ["request_id", "timestamp", *_features(small), "defaulted", "score"]
    assert ref["age"].between(18, 80).all()
    assert 0.03 < ref["income"].isna().mean() < 0.07
    assert ref["debt_to_income"].between(0, 100).all()
    assert (ref["missed_payments_2y"] == 0).mean() > 0.6
    assert 0.10 < ref["defaulted"].mean() < 0.14
    for column, known in KNOWN.items():
        assert set(ref[column]) == known


def test_concept_drift_lowers_champion_auc(small: ScenarioFiles) -> None:
    truth = _truth(small)
    auc = truth["auc"]
    assert auc["champion_post_change"] < auc["champion_pre_change"] - 0.03
    assert auc["challenger_post_change"] > auc["champion_post_change"] + 0.05
    assert truth["default_rate_after_concept_change"] > truth["default_rate_before_concept_change"]
    # Independently: the champion ranks post-change rows (challenger's reference) worse.
    champion = _load(small.champion_model)
    features = _features(small)
    before = pd.read_csv(small.champion_reference)
    after = pd.read_parquet(small.challenger_reference)
    assert after["timestamp"].min() >= pd.Timestamp(truth["concept_drift_date"], tz="UTC")
    auc_after = roc_auc_score(after["defaulted"], champion.predict_proba(after[features])[:, 1])
    assert auc_after < roc_auc_score(before["defaulted"], before["score"]) - 0.03
    assert roc_auc_score(after["defaulted"], after["score"]) > auc_after + 0.05


def test_realised_auc_from_late_labels_drops(long: ScenarioFiles) -> None:
    truth = _truth(long)
    joined = _labels(long).merge(_logs(long).drop_duplicates("request_id"), on="request_id")
    post = joined["timestamp"] >= pd.Timestamp(truth["concept_drift_date"], tz="UTC")
    assert post.sum() > 300
    auc_before = roc_auc_score(joined["defaulted"][~post], joined["score"][~post])
    auc_after = roc_auc_score(joined["defaulted"][post], joined["score"][post])
    assert auc_after < auc_before


def test_drifted_features_shift_and_others_stay(long: ScenarioFiles) -> None:
    truth = _truth(long)
    logs = _logs(long)
    early = logs[
        logs["timestamp"] < pd.Timestamp(truth["drifted_features"]["income"]["from"], tz="UTC")
    ]
    late = logs[logs["timestamp"] >= pd.Timestamp(truth["concept_drift_date"], tz="UTC")]
    assert set(truth["drifted_features"]) == {"income", "purpose", "loan_amount"}
    assert late["income"].median() < 0.9 * early["income"].median()
    assert (late["purpose"] == "travel").mean() > (early["purpose"] == "travel").mean() + 0.1
    assert late["loan_amount"].median() > 1.1 * early["loan_amount"].median()
    assert set(truth["undrifted_features"]) >= {"age", "open_accounts", "home_ownership"}
    assert abs(late["age"].median() - early["age"].median()) <= 1
    assert abs(late["open_accounts"].mean() - early["open_accounts"].mean()) < 0.15
    own = [(part["home_ownership"] == "own").mean() for part in (early, late)]
    assert abs(own[0] - own[1]) < 0.03


def test_labels_arrive_30_to_60_days_after_prediction(long: ScenarioFiles) -> None:
    truth = _truth(long)
    labels = _labels(long)
    logs = _logs(long)
    joined = labels.merge(logs.drop_duplicates("request_id"), on="request_id", how="left")
    assert joined["timestamp"].notna().all()
    # Each file holds one arrival week [week_start, week_start + 7 days).
    assert (joined["timestamp"] + pd.Timedelta(days=60) >= joined["week_start"]).all()
    assert (
        joined["timestamp"] + pd.Timedelta(days=30) < joined["week_start"] + pd.Timedelta(days=7)
    ).all()
    end = pd.Timestamp(truth["end"], tz="UTC")
    assert joined["week_start"].max() < end
    assert joined["timestamp"].max() < end - pd.Timedelta(days=30)
    assert set(labels["defaulted"]) == {0, 1}
    # Requests old enough to be fully labelled: ~70 % of clean ones (3 % dirty never are).
    old = logs[logs["timestamp"] < end - pd.Timedelta(days=61)]
    assert 0.64 < old["request_id"].isin(labels["request_id"]).mean() < 0.72


def test_latency_has_spikes_and_an_incident_day(long: ScenarioFiles) -> None:
    truth = _truth(long)
    logs = _logs(long)
    incident = logs["file"] == f"log_{truth['latency_incident_date']}.parquet"
    normal = logs.loc[~incident, "latency_ms"]
    assert 30 < normal.median() < 50
    assert 0.005 < (normal > 500).mean() < 0.02
    assert logs.loc[incident, "latency_ms"].median() > 2 * normal.median()


def test_feature_metadata_is_complete(small: ScenarioFiles) -> None:
    metadata = json.loads(small.feature_metadata.read_text())
    assert list(metadata)[:3] == ["age", "income", "loan_amount"]
    assert len(metadata) == 10
    for entry in metadata.values():
        assert set(entry) == {"label", "unit", "description", "actionable"}
        assert isinstance(entry["actionable"], bool)
    assert metadata["debt_to_income"]["unit"] == "%"
