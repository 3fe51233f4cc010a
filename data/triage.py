"""Deterministic support-ticket triage scenario: a multiclass model routes each ticket to the
team that should answer it (account, billing, delivery or technical).

For the defaults (120 days from 2026-05-01, about 400 tickets a day) the injected story is:

* 2026-06-15 .. 2026-06-30: the chat widget launches. ``channel`` moves toward ``chat``
  (10 % -> 40 % of tickets) and, as chat messages are short, ``message_words`` falls; both stay
  there. Chat brings more delivery questions, so the predicted teams shift too.
* 2026-07-20: concept change. The new checkout reports a declined card as an error code, so
  tickets quoting error codes now mostly belong to billing, not technical. Inputs do not
  change; the champion keeps sending them to technical and its realised accuracy drops. The
  challenger was trained on tickets resolved after the change.
* about 1.5 % dirty log rows: a missing plan, a negative account age or a pasted log file of
  20,000 words, the pilot channel ``whatsapp`` the model never saw, a ticket logged twice; and
  about 1 % of the outcomes name the queue ``spam``, which the model does not know.

A ticket's outcome (the team that resolved it) arrives 1-10 days after it was routed, for 90 %
of tickets. Event dates scale with ``days`` (chat from 3*days/8, fully in by days/2, concept
change at 2*days/3). ``truth.json`` records the dates, counts and accuracies.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from data.scenario_files import clear, dump_model, write_csv, write_json
from data.simulator import sample_split

CLASSES = ("account", "billing", "delivery", "technical")
NUMERIC = (
    "message_words",
    "account_age_days",
    "orders_90d",
    "failed_payments_90d",
    "error_codes",
    "login_failures_7d",
)
CATEGORICAL = ("channel", "plan")
FEATURES = NUMERIC + CATEGORICAL
DRIFTED = ("channel", "message_words")
CHANNELS = ("email", "chat", "phone", "web_form")
PLANS = ("basic", "plus", "business")
BASE_CHANNEL_MIX = np.array([0.45, 0.10, 0.15, 0.30])
CHAT_SHARE_AFTER = 0.40
PLAN_MIX = np.array([0.55, 0.30, 0.15])
# Median words of a ticket's message per channel (email, chat, phone summary, web form).
WORDS_BY_CHANNEL = (90, 18, 40, 55)

# feature -> (label, unit, description, actionable by the customer)
FEATURE_METADATA = {
    "message_words": ("Message length", "words", "Words in the ticket's first message.", True),
    "account_age_days": ("Customer for", "days", "Days since the account was opened.", False),
    "orders_90d": ("Orders (90 days)", "orders", "Orders placed in the last 90 days.", False),
    "failed_payments_90d": (
        "Failed payments (90 days)",
        "payments",
        "Card payments declined in the last 90 days.",
        False,
    ),
    "error_codes": ("Error codes quoted", "codes", "Error codes quoted in the message.", True),
    "login_failures_7d": (
        "Failed sign-ins (7 days)",
        "attempts",
        "Failed sign-in attempts in the last 7 days.",
        False,
    ),
    "channel": ("Channel", "", "How the ticket came in.", False),
    "plan": ("Plan", "", "The customer's subscription plan.", False),
}

DAY = 86_400
PRE_START_DAYS = 90
CHAMPION_TRAIN, CHAMPION_REF = 6_000, 3_000
CHALLENGER_TRAIN, CHALLENGER_REF = 6_000, 3_000
SHARE_OF_CREDIT_TRAFFIC = 0.25  # tickets a day, as a share of the credit scenario's per_day
WEEKDAY_LOAD = np.array([1.15, 1.10, 1.05, 1.05, 1.0, 0.85, 0.80])  # Mon..Sun, mean 1.0

DIRTY_RATE = 0.015
DIRTY_KINDS = ("missing_value", "out_of_range", "unknown_category", "duplicate_request_id")
DIRTY_MIX = np.array([0.30, 0.30, 0.25, 0.15])
UNKNOWN_CHANNEL = "whatsapp"
LABEL_RATE = 0.90
LABEL_DELAY_DAYS = (1, 10)
SPAM_RATE = 0.01  # outcomes naming a queue the model does not know
SPAM = "spam"


@dataclass(frozen=True)
class TriageFiles:
    """Paths of everything the triage scenario wrote."""

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
    def chat_from(self) -> int:
        return 3 * self.days // 8

    @property
    def chat_full(self) -> int:
        return max(self.days // 2, self.chat_from + 1)

    @property
    def concept(self) -> int:
        return 2 * self.days // 3

    @property
    def epoch(self) -> int:
        return int(
            datetime(self.start.year, self.start.month, self.start.day, tzinfo=UTC).timestamp()
        )

    def iso(self, offset: int) -> str:
        return (self.start + timedelta(days=offset)).isoformat()

    def day_of(self, seconds: np.ndarray) -> np.ndarray:
        return (np.asarray(seconds) - self.epoch) // DAY


def tickets_per_day(per_day: int) -> int:
    """Tickets a day of the triage scenario beside a credit scenario of PER_DAY applications."""
    return max(1, round(per_day * SHARE_OF_CREDIT_TRAFFIC))


def simulate_triage(
    out_dir: Path,
    *,
    days: int = 120,
    seed: int = 7,
    per_day: int = 425,
    start: date = date(2026, 5, 1),
) -> TriageFiles:
    """Write a complete, deterministic ticket-triage scenario to OUT_DIR and return its paths."""
    if days < 1 or per_day < 1:
        raise ValueError("days and per_day must be positive")
    sched = _Schedule(start, days)
    # Streams of their own, apart from the credit scenario's, so that neither moves the other.
    streams = np.random.SeedSequence([seed, 19]).spawn(5)
    rng_champion, rng_challenger, rng_traffic, rng_dirty, rng_labels = map(
        np.random.default_rng, streams
    )
    champion_train, champion_ref = _sample_split(
        rng_champion, sched, -PRE_START_DAYS, 0, CHAMPION_TRAIN, CHAMPION_REF
    )
    # The challenger was trained on tickets resolved after the checkout changed.
    challenger_train, challenger_ref = _sample_split(
        rng_challenger, sched, sched.concept, days, CHALLENGER_TRAIN, CHALLENGER_REF
    )
    with ThreadPoolExecutor(max_workers=2) as fitting:
        fits = [fitting.submit(_fit, frame, seed) for frame in (champion_train, challenger_train)]
        champion, challenger = (fit.result() for fit in fits)

    traffic = _traffic(rng_traffic, sched, per_day)
    traffic["request_id"] = _ids(len(traffic))
    traffic = _make_dirty(rng_dirty, traffic)
    traffic = _scored(champion, traffic)
    traffic["latency_ms"] = np.round(rng_traffic.lognormal(np.log(25), 0.3, len(traffic)), 2)
    labels = _labels(rng_labels, traffic, sched)

    out_dir.mkdir(parents=True, exist_ok=True)
    files = TriageFiles(
        out_dir=out_dir,
        champion_reference=out_dir / "triage_champion_reference.parquet",
        champion_model=out_dir / "triage_champion_model.skops",
        challenger_reference=out_dir / "triage_challenger_reference.parquet",
        challenger_model=out_dir / "triage_challenger_model.skops",
        feature_metadata=out_dir / "triage_words.json",
        log_files=_write_logs(out_dir / "triage_logs", traffic, sched),
        label_files=_write_labels(out_dir / "triage_labels", labels, sched),
        truth=out_dir / "triage_truth.json",
    )
    _reference_frame(_scored(champion, champion_ref)).to_parquet(
        files.champion_reference, index=False
    )
    _reference_frame(_scored(challenger, challenger_ref)).to_parquet(
        files.challenger_reference, index=False
    )
    dump_model(champion, files.champion_model)
    dump_model(challenger, files.challenger_model)
    write_json(_words(), files.feature_metadata)
    write_json(_truth(sched, seed, per_day, traffic, labels, challenger), files.truth)
    return files


# --- population -------------------------------------------------------------------------


def _draw(rng: np.random.Generator, probs: np.ndarray, labels: tuple[str, ...]) -> np.ndarray:
    """One draw per row from row-specific probabilities (rows of PROBS sum to 1)."""
    index = (rng.random((len(probs), 1)) > np.cumsum(probs, axis=1)).sum(axis=1)
    return np.asarray(labels, dtype=object)[np.minimum(index, len(labels) - 1)]


def _channel_mix(chat: np.ndarray) -> np.ndarray:
    """Per-row channel probabilities: chat grows to its share after the launch, the rest shrink."""
    after = BASE_CHANNEL_MIX * (1 - CHAT_SHARE_AFTER) / (1 - BASE_CHANNEL_MIX[1])
    after[1] = CHAT_SHARE_AFTER
    return BASE_CHANNEL_MIX + chat[:, None] * (after - BASE_CHANNEL_MIX)


def _tickets(rng: np.random.Generator, t: np.ndarray, sched: _Schedule) -> pd.DataFrame:
    """Ticket features at fractional day offsets T, with the chat launch ramping in."""
    n = len(t)
    chat = np.clip((t - sched.chat_from) / (sched.chat_full - sched.chat_from), 0.0, 1.0)
    channel = _draw(rng, _channel_mix(chat), CHANNELS)
    plan = _draw(rng, np.broadcast_to(PLAN_MIX, (n, len(PLANS))), PLANS)
    at = pd.Series(channel).map(dict(zip(CHANNELS, range(4), strict=True))).to_numpy(int)
    words = np.asarray(WORDS_BY_CHANNEL, float)[at] * rng.lognormal(0, 0.45, n)
    business = plan == "business"
    return pd.DataFrame(
        {
            "message_words": np.maximum(np.round(words), 1.0),
            "account_age_days": np.round(rng.gamma(1.3, 420, n)),
            "orders_90d": rng.poisson(np.where(business, 4.0, 1.6)).astype(float),
            # Gamma-mixed Poisson: most customers have none, a few have many.
            "failed_payments_90d": rng.poisson(rng.gamma(0.4, 1.0, n)).astype(float),
            "error_codes": rng.poisson(rng.gamma(0.5, 1.0, n)).astype(float),
            "login_failures_7d": rng.poisson(rng.gamma(0.35, 1.6, n)).astype(float),
            "channel": channel,
            "plan": plan,
        }
    )


def _logits(x: pd.DataFrame, post_change: np.ndarray) -> np.ndarray:
    """True log-odds of each team (columns in CLASSES order); after the concept change error
    codes point to billing when the customer's payments failed, and much less to technical."""
    errors, failed = x["error_codes"].to_numpy(), x["failed_payments_90d"].to_numpy()
    channel, plan = x["channel"].to_numpy(), x["plan"].to_numpy()
    checkout = np.where(post_change, 1.0, 0.0)
    account = (
        0.2
        + 2.0 * x["login_failures_7d"]
        - 0.003 * x["account_age_days"]
        + 0.8 * (channel == "phone")
    )
    billing = (
        -0.6
        + 2.0 * failed
        + 0.8 * (plan == "business")
        + checkout * (1.6 * errors * (failed > 0) + 0.8 * errors)
    )
    delivery = 0.9 + 0.45 * x["orders_90d"] + 0.8 * (channel == "chat") - 1.2 * errors
    technical = -1.0 + (2.0 - 1.2 * checkout) * errors + 0.012 * (x["message_words"] - 50)
    return np.column_stack([np.asarray(v, float) for v in (account, billing, delivery, technical)])


def _population(rng: np.random.Generator, seconds: np.ndarray, sched: _Schedule) -> pd.DataFrame:
    """Tickets at the given epoch seconds with the team that will resolve them."""
    t = (seconds - sched.epoch) / DAY
    frame = _tickets(rng, t, sched)
    logits = _logits(frame, t >= sched.concept)
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    frame["team"] = _draw(rng, p / p.sum(axis=1, keepdims=True), CLASSES)
    frame.insert(0, "timestamp", seconds)
    return frame


def _sample_split(
    rng: np.random.Generator, sched: _Schedule, first: int, last: int, n_train: int, n_ref: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Train and held-out reference tickets (data.simulator.sample_split)."""
    return sample_split(rng, sched, first, last, n_train, n_ref, population=_population)


# --- models -----------------------------------------------------------------------------


def _fit(frame: pd.DataFrame, seed: int) -> Pipeline:
    """A multinomial logistic regression on scaled counts and one-hot channel and plan (a
    channel or plan it never saw, or none, counts as none of them)."""
    categorical = Pipeline(
        [
            ("impute", SimpleImputer(strategy="constant", fill_value="missing")),
            ("onehot", OneHotEncoder(handle_unknown="ignore", sparse_output=False)),
        ]
    )
    preprocess = ColumnTransformer(
        [
            ("numeric", StandardScaler(), list(NUMERIC)),
            ("categorical", categorical, list(CATEGORICAL)),
        ]
    )
    model = Pipeline(
        [("preprocess", preprocess), ("model", LogisticRegression(C=1.0, max_iter=1000))]
    )
    return model.fit(frame[list(FEATURES)], frame["team"])


def _scored(model: Pipeline, frame: pd.DataFrame) -> pd.DataFrame:
    """FRAME with the model's team (`predicted`) and each team's probability (`p_<team>`)."""
    proba = model.predict_proba(frame[list(FEATURES)])
    names = [str(c) for c in model.classes_]
    out = frame.copy()
    out["predicted"] = np.asarray(names, dtype=object)[proba.argmax(axis=1)]
    for i, name in enumerate(names):
        out[f"p_{name}"] = proba[:, i]
    return out


# --- production traffic -----------------------------------------------------------------


def _ids(n: int) -> np.ndarray:
    return np.array([f"tkt-{i:08d}" for i in range(n)], dtype=object)


def _traffic(rng: np.random.Generator, sched: _Schedule, per_day: int) -> pd.DataFrame:
    """All tickets, time-ordered: busier on Mondays, mostly in office hours."""
    weekday = np.array([(sched.start + timedelta(days=d)).weekday() for d in range(sched.days)])
    counts = np.round(per_day * WEEKDAY_LOAD[weekday] * rng.normal(1, 0.05, sched.days))
    day = np.repeat(np.arange(sched.days), counts.clip(1).astype(int))
    second = np.mod(rng.normal(12 * 3600, 4 * 3600, len(day)), DAY).astype(np.int64)
    return _population(rng, np.sort(sched.epoch + day * DAY + second), sched)


def _make_dirty(rng: np.random.Generator, frame: pd.DataFrame) -> pd.DataFrame:
    """Corrupt ~1.5 % of rows with one defect each; `dirty` names the kind, '' when clean."""
    frame = frame.copy()
    n = len(frame)
    kind = np.where(
        rng.random(n) < DIRTY_RATE,
        rng.choice(np.array(DIRTY_KINDS, dtype=object), n, p=DIRTY_MIX),
        "",
    )
    # A duplicate is the previous ticket logged twice, so that one must be clean.
    kind[(kind == "duplicate_request_id") & ~np.r_[False, kind[:-1] == ""]] = ""
    frame["dirty"] = kind
    frame.loc[kind == "missing_value", "plan"] = None
    out = np.flatnonzero(kind == "out_of_range")
    pasted = rng.random(len(out)) < 0.5
    frame.loc[out[pasted], "message_words"] = 20_000.0
    frame.loc[out[~pasted], "account_age_days"] = -1.0
    frame.loc[kind == "unknown_category", "channel"] = UNKNOWN_CHANNEL
    dup = np.flatnonzero(kind == "duplicate_request_id")
    for column in [*FEATURES, "request_id", "timestamp", "team"]:
        frame.loc[dup, column] = frame.loc[dup - 1, column].to_numpy()
    return frame


def _labels(rng: np.random.Generator, frame: pd.DataFrame, sched: _Schedule) -> pd.DataFrame:
    """The resolving team of ~90 % of tickets (not the duplicates), 1-10 days later; ~1 % say
    'spam'."""
    once = frame[frame["dirty"] != "duplicate_request_id"]
    low, high = LABEL_DELAY_DAYS
    arrival = once["timestamp"].to_numpy() + rng.integers(low * DAY, high * DAY + 1, len(once))
    keep = (rng.random(len(once)) < LABEL_RATE) & (arrival < sched.epoch + sched.days * DAY)
    team = np.where(rng.random(len(once)) < SPAM_RATE, SPAM, once["team"].to_numpy())
    labels = pd.DataFrame(
        {
            "request_id": once["request_id"].to_numpy()[keep],
            "team": team[keep],
            "arrival": arrival[keep],
        }
    )
    labels["week"] = sched.day_of(labels["arrival"]) // 7
    return labels.sort_values(["arrival", "request_id"]).reset_index(drop=True)


# --- writing ----------------------------------------------------------------------------


def _published(frame: pd.DataFrame) -> pd.DataFrame:
    """request_id, UTC timestamp, typed features, predicted team and its probabilities."""
    out = pd.DataFrame(
        {
            "request_id": frame["request_id"].astype("str").to_numpy(),
            "timestamp": pd.to_datetime(frame["timestamp"].to_numpy(), unit="s", utc=True).astype(
                "datetime64[us, UTC]"
            ),
        }
    )
    for column in NUMERIC:
        out[column] = frame[column].to_numpy().astype(float).round().astype("int64")
    for column in CATEGORICAL:
        out[column] = frame[column].to_numpy()
    out["predicted"] = frame["predicted"].to_numpy()
    for name in CLASSES:
        out[f"p_{name}"] = frame[f"p_{name}"].to_numpy()
    return out


def _reference_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Reference rows as written: id, timestamp, features, predicted team and probabilities,
    and the team that resolved the ticket."""
    return _published(frame.assign(request_id=[f"ref-{i:06d}" for i in range(len(frame))])).assign(
        team=frame["team"].to_numpy()
    )


def _write_logs(folder: Path, frame: pd.DataFrame, sched: _Schedule) -> list[Path]:
    """One Parquet file per week, as the ticketing system exports them (weeks from the start)."""
    clear(folder, "tickets_*.parquet")
    typed = _published(frame)
    typed["latency_ms"] = frame["latency_ms"].to_numpy()
    week = sched.day_of(frame["timestamp"]) // 7
    paths = []
    for w in range(int(week.max()) + 1 if len(week) else 0):
        path = folder / f"tickets_{sched.iso(7 * w)}.parquet"
        typed[week == w].reset_index(drop=True).to_parquet(path, index=False)
        paths.append(path)
    return paths


def _write_labels(folder: Path, labels: pd.DataFrame, sched: _Schedule) -> list[Path]:
    """One CSV of resolved tickets per arrival week, named by the week's first day."""
    clear(folder, "resolved_*.csv")
    paths = []
    for week, rows in labels.groupby("week", sort=True):
        path = folder / f"resolved_{sched.iso(7 * int(week))}.csv"
        write_csv(rows[["request_id", "team"]], path)
        paths.append(path)
    return paths


def _words() -> dict:
    """How people talk about the model: what it predicts, of whom, and each input."""
    return {
        "outcome": "team",
        "population": "tickets",
        "features": {
            name: {"label": label, "unit": unit, "description": text, "actionable": actionable}
            for name, (label, unit, text, actionable) in FEATURE_METADATA.items()
        },
    }


# --- truth ------------------------------------------------------------------------------


def _accuracy(frame: pd.DataFrame) -> float | None:
    right = frame["team"].to_numpy() == frame["predicted"].to_numpy()
    return round(float(right.mean()), 4) if len(frame) else None


def _truth(
    sched: _Schedule,
    seed: int,
    per_day: int,
    traffic: pd.DataFrame,
    labels: pd.DataFrame,
    challenger: Pipeline,
) -> dict:
    """Everything that was injected, with the counts and accuracies it produced."""
    day = sched.day_of(traffic["timestamp"])
    clean = traffic[traffic["dirty"] == ""]
    post = sched.day_of(clean["timestamp"]) >= sched.concept
    chat = {"from": sched.iso(sched.chat_from), "full_from": sched.iso(sched.chat_full)}
    return {
        "seed": seed,
        "days": sched.days,
        "per_day": per_day,
        "start": sched.iso(0),
        "end": sched.iso(sched.days),
        "classes": list(CLASSES),
        "concept_drift_date": sched.iso(sched.concept),
        "concept_drift": (
            "Inputs unchanged. Log-odds of billing +1.4 per error code quoted; of technical "
            "1.0 -> 0.2 per error code."
        ),
        "drifted_features": {
            "channel": {
                **chat,
                "description": f"Chat launch: chat's share rises from {BASE_CHANNEL_MIX[1]:.0%} "
                f"to {CHAT_SHARE_AFTER:.0%}, other channels shrink proportionally.",
            },
            "message_words": {
                **chat,
                "description": "Shorter messages: chat messages have a median of "
                f"{WORDS_BY_CHANNEL[1]} words against {WORDS_BY_CHANNEL[0]} by email.",
            },
        },
        "undrifted_features": [f for f in FEATURES if f not in DRIFTED],
        "total_rows": len(traffic),
        "rows_per_day": np.bincount(day, minlength=sched.days).tolist(),
        "dirty_rows": {
            "rate": DIRTY_RATE,
            "total": {k: int((traffic["dirty"] == k).sum()) for k in DIRTY_KINDS},
            "unknown_category": {"channel": UNKNOWN_CHANNEL},
        },
        "labels": {
            "rate": LABEL_RATE,
            "delay_days": list(LABEL_DELAY_DAYS),
            "labelled_requests": len(labels),
            "unknown_class": {SPAM: int((labels["team"] == SPAM).sum())},
        },
        "team_shares": clean["team"].value_counts(normalize=True).round(4).sort_index().to_dict(),
        "accuracy": {
            "champion_pre_change": _accuracy(clean[~post]),
            "champion_post_change": _accuracy(clean[post]),
            "challenger_post_change": _accuracy(_scored(challenger, clean[post]))
            if post.any()
            else None,
        },
    }
