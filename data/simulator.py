"""Deterministic credit-risk scenario: two models, daily production logs, late labels, ground truth.

For the defaults (120 days from 2026-05-01) the injected story is:

* 2026-05-31 .. 2026-06-15: summer data drift ramps in. ``income`` drops by 18 % and
  ``purpose`` shifts toward ``travel`` (8 % -> 25 % share); both stay there.
* from 2026-05-01: ``loan_amount`` rises gradually, +50 % per purpose by the scenario end
  (the shift toward smaller travel loans flattens the rise while the summer mix ramps in).
* 2026-06-15: latency incident (3x slower serving, 10 % spikes).
* 2026-07-15: concept drift. Inputs do not change, but ``debt_to_income`` and
  ``self_employed`` become much riskier, missed payments and income matter less and the
  default rate rises, so the champion's realised AUC drops. The challenger was trained
  on post-change data.
* every 10th daily log stores ``income`` as strings with a few junk values.

Event dates scale with ``days`` (drift at days/4, incident at 3*days/8, concept change at
5*days/8) so short scenarios used in tests still contain every event. ``truth.json``
records the actual dates, counts and metrics.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier
from sklearn.impute import SimpleImputer
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder

from data.scenario_files import clear, dump_model, write_csv, write_json

NUMERIC = (
    "age",
    "income",
    "loan_amount",
    "debt_to_income",
    "credit_history_years",
    "open_accounts",
    "missed_payments_2y",
)
CATEGORICAL = ("employment_type", "home_ownership", "purpose")
FEATURES = NUMERIC + CATEGORICAL
INT_FEATURES = ("age", "open_accounts", "missed_payments_2y")
DRIFTED = ("income", "loan_amount", "purpose")

EMPLOYMENT = ("salaried", "self_employed", "contractor", "unemployed", "retired")
HOME = ("rent", "mortgage", "own")
PURPOSE = ("car", "home_improvement", "debt_consolidation", "education", "travel", "business")
BASE_PURPOSE_MIX = np.array([0.25, 0.15, 0.29, 0.10, 0.08, 0.13])

# feature -> (label, unit, description, actionable by the applicant)
FEATURE_METADATA = {
    "age": ("Age", "years", "Applicant age at application.", False),
    "income": ("Annual income", "EUR", "Declared gross annual income.", True),
    "loan_amount": ("Loan amount", "EUR", "Requested principal.", True),
    "debt_to_income": ("Debt-to-income", "%", "Monthly debt service / monthly income.", True),
    "credit_history_years": ("Credit history", "years", "Years since first credit.", False),
    "open_accounts": ("Open accounts", "accounts", "Credit accounts currently open.", True),
    "missed_payments_2y": (
        "Missed payments (2y)",
        "payments",
        "Payments missed by 30+ days in the last two years.",
        False,
    ),
    "employment_type": ("Employment type", "", "Current employment situation.", False),
    "home_ownership": ("Home ownership", "", "Housing situation.", False),
    "purpose": ("Loan purpose", "", "What the applicant says the loan is for.", False),
}

DAY = 86_400
PRE_START_DAYS = 90  # champion data comes from the quarter before production starts
CHAMPION_TRAIN, CHAMPION_REF = 8_000, 4_000
CHALLENGER_TRAIN, CHALLENGER_REF = 10_000, 4_000
BATCH = 50_000
WEEKDAY_LOAD = np.array([1.08, 1.08, 1.08, 1.08, 1.08, 0.85, 0.75])  # Mon..Sun, mean 1.0
INCOME_DROP = 0.18
TRAVEL_SHARE_SUMMER = 0.25
LOAN_GROWTH = 0.50
INCOME_MISSING = 0.05

DIRTY_RATE = 0.03
JUNK_EVERY = 10
# Every dirty row gets exactly one kind; wrong_type only exists in the string-income files.
DIRTY_KINDS = ("missing_value", "out_of_range", "unknown_category", "duplicate_request_id")
ALL_DIRTY_KINDS = (*DIRTY_KINDS, "wrong_type")
DIRTY_MIX = np.array([0.40, 0.30, 0.22, 0.08])
JUNK_DAY_MIX = np.array([0.25, 0.20, 0.15, 0.05, 0.35])
JUNK_INCOME = np.array(["n/a", "12,5k", "unknown", "€40.000", "see attached"], dtype=object)
UNKNOWN_CATEGORY = {
    "employment_type": "freelance",
    "home_ownership": "council",
    "purpose": "crypto",
}

LABEL_RATE = 0.70
LABEL_DELAY_DAYS = (30, 60)


@dataclass(frozen=True)
class ScenarioFiles:
    """Paths of everything one simulated scenario wrote."""

    out_dir: Path
    champion_reference: Path
    champion_model: Path
    challenger_reference: Path
    challenger_model: Path
    feature_metadata: Path
    log_files: list[Path]
    label_files: list[Path]
    truth: Path


@dataclass(frozen=True)
class _Schedule:
    """Event days as offsets from the start date; they scale with the scenario length."""

    start: date
    days: int

    @property
    def drift_from(self) -> int:
        return self.days // 4

    @property
    def drift_full(self) -> int:
        return self.drift_from + max(self.days // 8, 1)

    @property
    def incident(self) -> int:
        return 3 * self.days // 8

    @property
    def concept(self) -> int:
        return 5 * self.days // 8

    @property
    def epoch(self) -> int:
        midnight = datetime(self.start.year, self.start.month, self.start.day, tzinfo=UTC)
        return int(midnight.timestamp())

    def iso(self, offset: int) -> str:
        return (self.start + timedelta(days=offset)).isoformat()

    def day_of(self, seconds: np.ndarray) -> np.ndarray:
        return (np.asarray(seconds) - self.epoch) // DAY


def simulate(
    out_dir: Path,
    *,
    days: int = 120,
    seed: int = 7,
    per_day: int = 1700,
    start: date = date(2026, 5, 1),
) -> ScenarioFiles:
    """Write a complete, deterministic credit-risk scenario to out_dir and return its paths."""
    if days < 1 or per_day < 1:
        raise ValueError("days and per_day must be positive")
    out_dir = Path(out_dir)
    sched = _Schedule(start, days)
    # Independent streams, so e.g. changing per_day leaves the models untouched.
    streams = np.random.SeedSequence(seed).spawn(5)
    rng_champion, rng_challenger, rng_traffic, rng_dirty, rng_labels = map(
        np.random.default_rng, streams
    )

    champion_train, champion_ref = _sample_split(
        rng_champion, sched, -PRE_START_DAYS, 0, CHAMPION_TRAIN, CHAMPION_REF
    )
    # The challenger team had labelled data from after the concept change (a pilot portfolio).
    challenger_train, challenger_ref = _sample_split(
        rng_challenger, sched, sched.concept, days, CHALLENGER_TRAIN, CHALLENGER_REF
    )
    # Both models are fitted at once: tree fitting releases the GIL, so on two cores the demo
    # waits for the slower fit only. Each estimator has its own random_state and data, so the
    # models are the same as when fitted one after the other.
    with ThreadPoolExecutor(max_workers=2) as fitting:
        champion_fit = fitting.submit(
            _fit,
            champion_train,
            GradientBoostingClassifier(n_estimators=100, max_depth=3, random_state=seed),
        )
        challenger_fit = fitting.submit(
            _fit,
            challenger_train,
            RandomForestClassifier(
                n_estimators=100, max_depth=8, min_samples_leaf=20, random_state=seed
            ),
        )
        champion, challenger = champion_fit.result(), challenger_fit.result()
    champion_ref["score"] = _predict(champion, champion_ref)
    champion_ref["request_id"] = _ids(0, CHAMPION_REF)
    challenger_ref["score"] = _predict(challenger, challenger_ref)
    challenger_ref["request_id"] = _ids(CHAMPION_REF, CHALLENGER_REF)

    traffic = _traffic(rng_traffic, sched, per_day)
    traffic["request_id"] = _ids(CHAMPION_REF + CHALLENGER_REF, len(traffic))
    traffic = _make_dirty(rng_dirty, traffic, sched)
    traffic["score"] = _predict(champion, traffic)
    traffic["latency_ms"] = _latency(rng_traffic, traffic, sched)
    labels = _labels(rng_labels, traffic, sched)

    out_dir.mkdir(parents=True, exist_ok=True)
    files = ScenarioFiles(
        out_dir=out_dir,
        champion_reference=out_dir / "champion_reference.csv",
        champion_model=out_dir / "champion_model.skops",
        challenger_reference=out_dir / "challenger_reference.parquet",
        challenger_model=out_dir / "challenger_model.skops",
        feature_metadata=out_dir / "feature_metadata.json",
        log_files=_write_logs(out_dir / "logs", traffic, sched),
        label_files=_write_labels(out_dir / "labels", labels, sched),
        truth=out_dir / "truth.json",
    )
    write_csv(_reference_frame(champion_ref), files.champion_reference)
    _reference_frame(challenger_ref).to_parquet(files.challenger_reference, index=False)
    dump_model(champion, files.champion_model)
    dump_model(challenger, files.challenger_model)
    write_json(_feature_metadata(), files.feature_metadata)

    auc = _auc_truth(sched, traffic, champion_ref, challenger_ref, challenger)
    write_json(_truth(sched, seed, per_day, traffic, labels, files, auc), files.truth)
    return files


# --- population -------------------------------------------------------------------------


def _categorical(
    rng: np.random.Generator, probs: np.ndarray, labels: tuple[str, ...]
) -> np.ndarray:
    """One draw per row from row-specific category probabilities (rows of probs sum to 1)."""
    cumulative = np.cumsum(probs, axis=1)
    index = (rng.random((len(probs), 1)) > cumulative).sum(axis=1)
    return np.asarray(labels, dtype=object)[np.minimum(index, len(labels) - 1)]


def _lookup(values: np.ndarray | pd.Series, labels: tuple[str, ...], effects: list) -> np.ndarray:
    """Map category values to per-category numbers."""
    return pd.Series(values).map(dict(zip(labels, effects, strict=True))).to_numpy(float)


def _purpose_mix(summer: np.ndarray) -> np.ndarray:
    """Per-row purpose probabilities: travel grows to its summer share, the rest shrink."""
    summer_mix = BASE_PURPOSE_MIX * (1 - TRAVEL_SHARE_SUMMER) / (1 - BASE_PURPOSE_MIX[4])
    summer_mix[4] = TRAVEL_SHARE_SUMMER
    return BASE_PURPOSE_MIX + summer[:, None] * (summer_mix - BASE_PURPOSE_MIX)


def _applicants(rng: np.random.Generator, t: np.ndarray, sched: _Schedule) -> pd.DataFrame:
    """Applicant features at fractional day offsets t, with that day's seasonal drift."""
    n = len(t)
    summer = np.clip((t - sched.drift_from) / (sched.drift_full - sched.drift_from), 0.0, 1.0)
    growth = 1.0 + LOAN_GROWTH * np.clip(t / sched.days, 0.0, 1.0)

    age = np.clip(np.round(rng.normal(41, 13, n)), 18, 80)
    senior = (age >= 63)[:, None]
    employment_mix = np.where(
        senior, [0.15, 0.08, 0.03, 0.02, 0.72], [0.66, 0.13, 0.11, 0.07, 0.03]
    )
    employment = _categorical(rng, employment_mix, EMPLOYMENT)
    log_income = (
        np.log(38_000)
        + 0.02 * (age - 40)
        - 0.0006 * (age - 40) ** 2
        + _lookup(employment, EMPLOYMENT, [0.0, 0.15, 0.08, -0.9, -0.3])
        + rng.normal(0, 0.42, n)
    )
    income = np.round(np.exp(log_income) * (1 - INCOME_DROP * summer), -2)

    young, old = (age < 30)[:, None], (age >= 50)[:, None]
    home_mix = np.where(
        young, [0.70, 0.20, 0.10], np.where(old, [0.20, 0.35, 0.45], [0.40, 0.45, 0.15])
    )
    home = _categorical(rng, home_mix, HOME)
    purpose = _categorical(rng, _purpose_mix(summer), PURPOSE)
    typical_loan = _lookup(purpose, PURPOSE, [15_000, 20_000, 12_000, 10_000, 8_000, 30_000])
    loan = np.round(typical_loan * rng.lognormal(0, 0.5, n) * growth, -1)

    history = np.round(np.minimum(rng.gamma(3.0, 3.5, n), age - 18), 1)
    return pd.DataFrame(
        {
            "age": age,
            "income": income,
            "loan_amount": loan,
            "debt_to_income": np.round(100 * rng.beta(2.2, 5.5, n), 1),
            "credit_history_years": history,
            "open_accounts": rng.poisson(1.5 + 0.15 * history).astype(float),
            # Gamma-mixed Poisson: most applicants never missed a payment, a few missed many.
            "missed_payments_2y": rng.poisson(rng.gamma(0.5, 0.6, n)).astype(float),
            "employment_type": employment,
            "home_ownership": home,
            "purpose": purpose,
        }
    )


def _default_logit(x: pd.DataFrame, post_change: np.ndarray) -> np.ndarray:
    """Ground-truth log-odds of default; after the concept change DTI and self-employment bite."""
    dti_weight = np.where(post_change, 0.085, 0.03)
    missed_weight = np.where(post_change, 0.1, 0.55)
    income_weight = np.where(post_change, 0.2, 0.8)
    self_employed = (x["employment_type"] == "self_employed").to_numpy()
    return (
        -2.8
        + dti_weight * (x["debt_to_income"] - 28)
        + missed_weight * x["missed_payments_2y"]
        - income_weight * np.log(x["income"] / 38_000)
        + 0.35 * np.log(x["loan_amount"] / 15_000)
        - 0.05 * (x["credit_history_years"] - 9)
        - 0.012 * (x["age"] - 41)
        + 0.05 * (x["open_accounts"] - 3)
        + _lookup(x["employment_type"], EMPLOYMENT, [0.0, 0.2, 0.25, 0.9, 0.1])
        + np.where(post_change & self_employed, 1.5, 0.0)
        + _lookup(x["home_ownership"], HOME, [0.2, 0.0, -0.25])
        + _lookup(x["purpose"], PURPOSE, [-0.1, -0.2, 0.3, 0.1, 0.2, 0.4])
        + np.where(post_change, 0.35, 0.0)
    ).to_numpy(float)


def _population(rng: np.random.Generator, seconds: np.ndarray, sched: _Schedule) -> pd.DataFrame:
    """Applicants at the given epoch seconds with true outcomes; ~5 % of incomes go missing."""
    t = (seconds - sched.epoch) / DAY
    frame = _applicants(rng, t, sched)
    logit = _default_logit(frame, t >= sched.concept)
    frame["defaulted"] = (rng.random(len(frame)) < 1 / (1 + np.exp(-logit))).astype(int)
    # Masked after drawing the outcome: missingness hides income, it doesn't change risk.
    frame.loc[rng.random(len(frame)) < INCOME_MISSING, "income"] = np.nan
    frame.insert(0, "timestamp", seconds)
    return frame


def _sample_split(
    rng: np.random.Generator, sched: _Schedule, first: int, last: int, n_train: int, n_ref: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Train and held-out reference applicants (sample_split)."""
    return sample_split(rng, sched, first, last, n_train, n_ref, population=_population)


def sample_split(
    rng: np.random.Generator,
    sched: Any,
    first: int,
    last: int,
    n_train: int,
    n_ref: int,
    *,
    population: Callable[[np.random.Generator, np.ndarray, Any], pd.DataFrame],
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Train and held-out reference rows, time-ordered, drawn uniformly between two day offsets
    of SCHED (its epoch) by POPULATION(rng, epoch seconds, sched)."""
    seconds = np.sort(
        sched.epoch + rng.integers(first * DAY, last * DAY, n_train + n_ref, dtype=np.int64)
    )
    frame = population(rng, seconds, sched)
    is_ref = np.zeros(len(frame), bool)
    is_ref[rng.choice(len(frame), n_ref, replace=False)] = True
    return frame[~is_ref].reset_index(drop=True), frame[is_ref].reset_index(drop=True)


# --- models -----------------------------------------------------------------------------


def _fit(frame: pd.DataFrame, estimator: object) -> Pipeline:
    """Fit the shared preprocessing plus the given estimator on the feature columns."""
    categorical = Pipeline(
        [
            ("impute", SimpleImputer(strategy="constant", fill_value="missing")),
            ("onehot", OneHotEncoder(handle_unknown="ignore", sparse_output=False)),
        ]
    )
    preprocess = ColumnTransformer(
        [
            ("numeric", SimpleImputer(strategy="median"), list(NUMERIC)),
            ("categorical", categorical, list(CATEGORICAL)),
        ]
    )
    model = Pipeline([("preprocess", preprocess), ("model", estimator)])
    return model.fit(frame[list(FEATURES)], frame["defaulted"])


def _predict(model: Pipeline, frame: pd.DataFrame) -> np.ndarray:
    """Probability of default, in batches so large logs don't need one huge dense matrix."""
    features = frame[list(FEATURES)]
    parts = [
        model.predict_proba(features.iloc[i : i + BATCH])[:, 1]
        for i in range(0, len(features), BATCH)
    ]
    return np.concatenate(parts) if parts else np.empty(0)


def _auc(frame: pd.DataFrame) -> float | None:
    """ROC AUC of `score` against `defaulted`; None when a tiny scenario lacks both classes."""
    if frame["defaulted"].nunique() < 2:
        return None
    return round(float(roc_auc_score(frame["defaulted"], frame["score"])), 4)


# --- production traffic -----------------------------------------------------------------


def _ids(first: int, n: int) -> np.ndarray:
    return np.array([f"req-{i:09d}" for i in range(first, first + n)], dtype=object)


def _traffic(rng: np.random.Generator, sched: _Schedule, per_day: int) -> pd.DataFrame:
    """All production requests, time-ordered, with a weekly load pattern and daytime peak."""
    weekday = np.array([(sched.start + timedelta(days=d)).weekday() for d in range(sched.days)])
    counts = np.round(per_day * WEEKDAY_LOAD[weekday] * rng.normal(1, 0.04, sched.days))
    day = np.repeat(np.arange(sched.days), counts.clip(1).astype(int))
    # Mostly office hours (peak ~13:30 UTC), a quarter spread evenly through the day.
    office = np.mod(rng.normal(13.5 * 3600, 3.5 * 3600, len(day)), DAY)
    anytime = rng.uniform(0, DAY, len(day))
    second_of_day = np.where(rng.random(len(day)) < 0.75, office, anytime).astype(np.int64)
    return _population(rng, np.sort(sched.epoch + day * DAY + second_of_day), sched)


def _dirty_kinds(rng: np.random.Generator, day: np.ndarray) -> np.ndarray:
    """Defect kind per row ('' = clean): ~3 % dirty, wrong_type only on junk-income days."""
    n = len(day)
    junk_day = day % JUNK_EVERY == JUNK_EVERY - 1
    on_junk_day = rng.choice(np.array(ALL_DIRTY_KINDS, dtype=object), n, p=JUNK_DAY_MIX)
    elsewhere = rng.choice(np.array(DIRTY_KINDS, dtype=object), n, p=DIRTY_MIX)
    kind = np.where(rng.random(n) < DIRTY_RATE, np.where(junk_day, on_junk_day, elsewhere), "")
    # A duplicate is a double-logged copy of the previous request, so that one must be a
    # clean request of the same day.
    previous_ok = np.r_[False, (kind[:-1] == "") & (day[1:] == day[:-1])]
    kind[(kind == "duplicate_request_id") & ~previous_ok] = ""
    return kind


def _make_dirty(rng: np.random.Generator, frame: pd.DataFrame, sched: _Schedule) -> pd.DataFrame:
    """Corrupt ~3 % of rows with one defect each; `dirty` names the kind, '' when clean."""
    frame = frame.copy()
    kind = _dirty_kinds(rng, sched.day_of(frame["timestamp"]))
    frame["dirty"] = kind
    _blank_fields(rng, frame, np.flatnonzero(kind == "missing_value"))
    _out_of_range(rng, frame, np.flatnonzero(kind == "out_of_range"))
    _unknown_categories(rng, frame, np.flatnonzero(kind == "unknown_category"))

    # The raw junk text is only written out on the string-income days; the serving system
    # couldn't parse it, so it scored these rows with income missing.
    wrong = np.flatnonzero(kind == "wrong_type")
    frame["income_text"] = None
    frame.loc[wrong, "income_text"] = JUNK_INCOME[rng.integers(0, len(JUNK_INCOME), len(wrong))]
    frame.loc[wrong, "income"] = np.nan

    dup = np.flatnonzero(kind == "duplicate_request_id")
    for column in [*FEATURES, "request_id", "timestamp", "defaulted"]:
        frame.loc[dup, column] = frame.loc[dup - 1, column].to_numpy()
    return frame


def _blank_fields(rng: np.random.Generator, frame: pd.DataFrame, rows: np.ndarray) -> None:
    """Null one feature per row (not income: it is already naturally missing)."""
    candidates = np.array([f for f in FEATURES if f != "income"], dtype=object)
    columns = candidates[rng.integers(0, len(candidates), len(rows))]
    for column in candidates:
        frame.loc[rows[columns == column], column] = np.nan


def _out_of_range(rng: np.random.Generator, frame: pd.DataFrame, rows: np.ndarray) -> None:
    """Impossible numbers: age 150 or 7, negative loan, DTI 250 %, negative credit history."""
    choice = rng.integers(0, 5, len(rows))
    frame.loc[rows[choice == 0], "age"] = 150.0
    frame.loc[rows[choice == 1], "age"] = 7.0
    negative = rows[choice == 2]
    frame.loc[negative, "loan_amount"] = -frame.loc[negative, "loan_amount"]
    frame.loc[rows[choice == 3], "debt_to_income"] = 250.0
    frame.loc[rows[choice == 4], "credit_history_years"] = -3.0


def _unknown_categories(rng: np.random.Generator, frame: pd.DataFrame, rows: np.ndarray) -> None:
    """Categories the models never saw, e.g. purpose 'crypto'."""
    columns = np.array(CATEGORICAL, dtype=object)[rng.integers(0, len(CATEGORICAL), len(rows))]
    for column, value in UNKNOWN_CATEGORY.items():
        frame.loc[rows[columns == column], column] = value


def _latency(rng: np.random.Generator, frame: pd.DataFrame, sched: _Schedule) -> np.ndarray:
    """Serving latency: lognormal around 40 ms, 1 % spikes, one slow incident day."""
    n = len(frame)
    incident = sched.day_of(frame["timestamp"]) == sched.incident
    latency = rng.lognormal(np.log(40), 0.35, n) * np.where(incident, 3.0, 1.0)
    spike = rng.random(n) < np.where(incident, 0.10, 0.01)
    return np.round(np.where(spike, rng.uniform(500, 3000, n), latency), 2)


def _labels(rng: np.random.Generator, frame: pd.DataFrame, sched: _Schedule) -> pd.DataFrame:
    """Late truth for ~70 % of clean requests, 30-60 days after prediction, up to the end."""
    clean = frame[frame["dirty"] == ""]
    low, high = LABEL_DELAY_DAYS
    arrival = clean["timestamp"].to_numpy() + rng.integers(low * DAY, high * DAY + 1, len(clean))
    keep = (rng.random(len(clean)) < LABEL_RATE) & (arrival < sched.epoch + sched.days * DAY)
    labels = pd.DataFrame(
        {
            "request_id": clean["request_id"].to_numpy()[keep],
            "defaulted": clean["defaulted"].to_numpy()[keep],
            "arrival": arrival[keep],
        }
    )
    labels["week"] = sched.day_of(labels["arrival"]) // 7
    return labels.sort_values(["arrival", "request_id"]).reset_index(drop=True)


# --- writing ----------------------------------------------------------------------------


def _typed_features(frame: pd.DataFrame) -> pd.DataFrame:
    """Feature columns with integer features as nullable ints and categories as strings."""
    out = frame[list(FEATURES)].copy()
    for column in INT_FEATURES:
        out[column] = out[column].astype("Int64")
    for column in CATEGORICAL:
        out[column] = out[column].astype("str")
    return out


def _with_id_and_time(frame: pd.DataFrame) -> pd.DataFrame:
    """request_id, UTC timestamp and typed features, in the published column order."""
    timestamp = pd.to_datetime(frame["timestamp"], unit="s", utc=True)
    return pd.concat(
        [
            frame[["request_id"]].astype("str"),
            timestamp.astype("datetime64[us, UTC]"),
            _typed_features(frame),
        ],
        axis=1,
    ).reset_index(drop=True)


def _reference_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Reference rows as written: id, timestamp, features, target, score."""
    out = _with_id_and_time(frame)
    out["defaulted"] = frame["defaulted"].to_numpy(int)
    out["score"] = frame["score"].to_numpy()
    return out


def _write_logs(folder: Path, frame: pd.DataFrame, sched: _Schedule) -> list[Path]:
    """One Parquet file per day; every 10th day stores income as strings (with junk)."""
    clear(folder, "log_*.parquet")
    # Typed once for the whole scenario, then cut into days: the rows are in time order.
    typed = _with_id_and_time(frame)
    typed["score"] = frame["score"].to_numpy()
    typed["latency_ms"] = frame["latency_ms"].to_numpy()
    bounds = np.searchsorted(sched.day_of(frame["timestamp"]), np.arange(sched.days + 1))
    paths = []
    for d in range(sched.days):
        first, end = bounds[d], bounds[d + 1]
        out = typed.iloc[first:end].reset_index(drop=True)
        if d % JUNK_EVERY == JUNK_EVERY - 1:
            out["income"] = _income_as_text(frame.iloc[first:end])
        path = folder / f"log_{sched.iso(d)}.parquet"
        out.to_parquet(path, index=False)
        paths.append(path)
    return paths


def _income_as_text(rows: pd.DataFrame) -> pd.Series:
    """Income as the upstream system sent it on bad days: numbers as text, some junk."""
    text = rows["income"].map(lambda v: f"{v:.0f}", na_action="ignore").astype(object)
    junk = rows["income_text"].notna()
    text[junk] = rows.loc[junk, "income_text"]
    return text.astype("str").reset_index(drop=True)


def _write_labels(folder: Path, labels: pd.DataFrame, sched: _Schedule) -> list[Path]:
    """One CSV per arrival week (weeks counted from the start date), named by week start."""
    clear(folder, "labels_*.csv")
    paths = []
    for week, rows in labels.groupby("week", sort=True):
        path = folder / f"labels_{sched.iso(7 * int(week))}.csv"
        write_csv(rows[["request_id", "defaulted"]], path)
        paths.append(path)
    return paths


def _feature_metadata() -> dict:
    """Display metadata per feature, in the models' column order."""
    return {
        name: {"label": label, "unit": unit, "description": text, "actionable": actionable}
        for name, (label, unit, text, actionable) in FEATURE_METADATA.items()
    }


# --- truth ------------------------------------------------------------------------------


def _rate(values: pd.Series) -> float | None:
    return round(float(values.mean()), 4) if len(values) else None


def _drift_truth(sched: _Schedule) -> dict:
    """What drifted in the inputs, from when."""
    summer = {"from": sched.iso(sched.drift_from), "full_from": sched.iso(sched.drift_full)}
    return {
        "income": {**summer, "description": f"Summer dip: incomes fall {INCOME_DROP:.0%}."},
        "loan_amount": {
            "from": sched.iso(0),
            "full_from": sched.iso(sched.days),
            "description": f"Gradual rise: +{LOAN_GROWTH:.0%} per purpose, linearly over the "
            "scenario; the summer shift toward smaller travel loans flattens it while ramping.",
        },
        "purpose": {
            **summer,
            "description": f"Summer mix: 'travel' share rises from {BASE_PURPOSE_MIX[4]:.0%} "
            f"to {TRAVEL_SHARE_SUMMER:.0%}, other purposes shrink proportionally.",
        },
    }


def _dirty_truth(sched: _Schedule, traffic: pd.DataFrame, names: list[str]) -> dict:
    """Dirty-row counts per kind, in total and per log file."""
    counts = (
        pd.crosstab(sched.day_of(traffic["timestamp"]), traffic["dirty"])
        .reindex(index=range(len(names)), columns=ALL_DIRTY_KINDS, fill_value=0)
        .to_numpy()
    )
    per_file = {
        name: {kind: int(n) for kind, n in zip(ALL_DIRTY_KINDS, counts[d], strict=True)}
        for d, name in enumerate(names)
    }
    return {
        "rate": DIRTY_RATE,
        "total": {kind: sum(f[kind] for f in per_file.values()) for kind in ALL_DIRTY_KINDS},
        "per_file": per_file,
        "wrong_type_files": [n for d, n in enumerate(names) if d % JUNK_EVERY == JUNK_EVERY - 1],
        "examples": {
            "wrong_type": {"income": list(JUNK_INCOME)},
            "out_of_range": {
                "age": [150, 7],
                "loan_amount": "negative",
                "debt_to_income": 250,
                "credit_history_years": -3,
            },
            "unknown_category": UNKNOWN_CATEGORY,
        },
    }


def _label_truth(traffic: pd.DataFrame, labels: pd.DataFrame, label_files: list[Path]) -> dict:
    """How much ground truth arrived, and in which files."""
    clean = int((traffic["dirty"] == "").sum())
    per_week = labels.groupby("week", sort=True).size()
    return {
        "rate_of_clean_requests": LABEL_RATE,
        "delay_days": list(LABEL_DELAY_DAYS),
        "clean_requests": clean,
        "labelled_requests": len(labels),
        "coverage_of_clean_requests": round(len(labels) / max(clean, 1), 4),
        "rows_per_file": {path.name: int(n) for path, n in zip(label_files, per_week, strict=True)},
    }


def _truth(
    sched: _Schedule,
    seed: int,
    per_day: int,
    traffic: pd.DataFrame,
    labels: pd.DataFrame,
    files: ScenarioFiles,
    auc: dict,
) -> dict:
    """Everything that was injected, with the counts and metrics it produced."""
    day = sched.day_of(traffic["timestamp"])
    names = [path.name for path in files.log_files]
    post = day >= sched.concept
    return {
        "seed": seed,
        "days": sched.days,
        "per_day": per_day,
        "start": sched.iso(0),
        "end": sched.iso(sched.days),
        "concept_drift_date": sched.iso(sched.concept),
        "concept_drift": (
            "Inputs unchanged. Log-odds of default: debt_to_income weight 0.03 -> 0.085 per "
            "point, self_employed +1.5, missed_payments_2y weight 0.55 -> 0.1, "
            "log(income) weight -0.8 -> -0.2, every applicant +0.35."
        ),
        "drifted_features": _drift_truth(sched),
        "undrifted_features": [f for f in FEATURES if f not in DRIFTED],
        "latency_incident_date": sched.iso(sched.incident),
        "total_rows": len(traffic),
        "rows_per_file": dict(
            zip(names, np.bincount(day, minlength=len(names)).tolist(), strict=True)
        ),
        "dirty_rows": _dirty_truth(sched, traffic, names),
        "labels": _label_truth(traffic, labels, files.label_files),
        "default_rate_before_concept_change": _rate(traffic["defaulted"][~post]),
        "default_rate_after_concept_change": _rate(traffic["defaulted"][post]),
        "auc": auc,
    }


def _auc_truth(
    sched: _Schedule,
    traffic: pd.DataFrame,
    champion_ref: pd.DataFrame,
    challenger_ref: pd.DataFrame,
    challenger: Pipeline,
) -> dict:
    """Both models' AUCs on their references and on clean production rows around the change."""
    post = sched.day_of(traffic["timestamp"]) >= sched.concept
    clean = traffic["dirty"] == ""
    post_change = traffic[post & clean]
    return {
        "champion_reference": _auc(champion_ref),
        "challenger_reference": _auc(challenger_ref),
        "champion_pre_change": _auc(traffic[~post & clean]),
        "champion_post_change": _auc(post_change),
        "challenger_post_change": _auc(post_change.assign(score=_predict(challenger, post_change))),
    }
