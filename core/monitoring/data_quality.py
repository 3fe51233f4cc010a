"""Data quality of live traffic: what was rejected and why, per feature, latency against an SLO.

All aggregation runs in DuckDB over the typed log table and the quarantine (on a team store,
over its day counts where they answer: core.monitoring.traffic_days); a period is a calendar
day ('D') or ISO week ('W'), by the request's own timestamp. A rejected row whose
timestamp is itself the problem (missing, unreadable or later than its arrival) is placed when
it arrived instead, see _held().
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

import pandas as pd

from core.files.sources import quote_literal
from core.ingest import MAX_REQUEST_ID
from core.ingest.quarantine import RETRY_PREFIX
from core.monitoring.traffic_days import (
    Days,
    counted,
    counted_at,
    kept_days,
    latency_days,
    measured_quantiles,
    period_of,
    quality_days,
    registered,
)
from core.registry.features import Feature
from core.store import Model, Work, log_tables
from core.words import PERIODS, day

# Data quality is read per calendar day or ISO week.
QUALITY_PERIODS = ("D", "W")
DEFAULT_LATENCY_SLO_MS = 250.0
# A batch caused a spike when its rejected share is over SPIKE_FACTOR times the model's typical
# (median) batch share and at least SPIKE_MIN_POINTS above it; see batches().
SPIKE_FACTOR = 2.0
SPIKE_MIN_POINTS = 0.05


def _bucket(period: str, column: str) -> str:
    if period not in QUALITY_PERIODS:
        raise ValueError(f"period must be one of {', '.join(QUALITY_PERIODS)}")
    return f"date_trunc('{PERIODS[period]}', {column})::DATE"


def latency_slo(model: Model) -> float:
    """The model's latency SLO in ms (p95 target), from its settings."""
    return float(model.settings.get("latency_slo_ms", DEFAULT_LATENCY_SLO_MS))


EPOCH = datetime(1970, 1, 1)


def latest_period_start(w: Work, *, model: Model, period: str = "D") -> datetime:
    """Start of the newest period with logged traffic (for headline-only queries)."""
    assert model.id is not None
    if counted(w, days=Days(model.id)):
        last = w.catalog(
            "SELECT max(day) FROM day_traffic WHERE model_id = :model", {"model": model.id}
        ).scalar()
        if last is None:
            return EPOCH
        _bucket(period, "day")  # checks the period
        return period_of(pd.Series(pd.to_datetime([last])), period)[0].to_pydatetime()
    found = w.rows(f"SELECT {_bucket(period, 'max(ts)')} FROM {log_tables.pred_table(model.id)}")[
        0
    ][0]
    return EPOCH if found is None else datetime.combine(found, datetime.min.time())


def _held(model: Model, requests: str) -> str:
    """Open quarantined prediction rows as (placed, reasons); one parameter: the model id.
    REQUESTS is a relation of the model's logged requests' batch_id and ts (a batch's newest
    request per day will do: only the maxima are read).

    A row's own timestamp is trusted unless it is missing or later than the moment the row was
    quarantined: a claimed 2031 would stretch every chart to 2031 and make its lone period the
    headline. Such a row is placed when it arrived, but no later than the newest trusted request
    time of its batch (else of the model), so junk in a backfilled file lands among the file's
    own requests rather than opening a period of its own after the last real traffic.
    """
    return (
        "(WITH q AS (SELECT batch_id, ts, quarantined_at, reasons, "
        "COALESCE(ts <= quarantined_at, false) AS trusted FROM quarantine "
        "WHERE model_id = ? AND kind = 'prediction' AND retried_in IS NULL), "
        "doubtful AS (SELECT DISTINCT batch_id FROM q WHERE NOT trusted), "
        "newest AS (SELECT batch_id, max(ts) AS ts FROM ("
        f"SELECT batch_id, ts FROM {requests} WHERE batch_id IN (SELECT batch_id FROM doubtful) "
        "UNION ALL SELECT batch_id, ts FROM q WHERE trusted "
        "AND batch_id IN (SELECT batch_id FROM doubtful)) GROUP BY 1), "
        f"overall AS (SELECT max(ts) AS ts FROM (SELECT max(ts) AS ts FROM {requests} "
        "UNION ALL SELECT max(ts) FROM q WHERE trusted)) "
        "SELECT CASE WHEN trusted THEN q.ts "
        "ELSE least(quarantined_at, COALESCE(newest.ts, overall.ts)) END AS placed, reasons "
        "FROM q LEFT JOIN newest USING (batch_id) CROSS JOIN overall)"
    )


@contextmanager
def _quarantined(w: Work, model: Model) -> Iterator[str]:
    """_held over the logs, or over a team store's batch times per day where they answer."""
    assert model.id is not None
    if not counted(w, days=Days(model.id)):
        yield _held(model, log_tables.pred_table(model.id))
        return
    newest = w.catalog_frame(
        "SELECT batch_id, last_ts AS ts FROM day_batch WHERE model_id = :model",
        {"model": model.id},
    ).astype({"batch_id": "str", "ts": "datetime64[us]"})
    with registered(w, name="mb_requests_counted", frame=newest) as name:
        yield _held(model, name)


def volume(w: Work, *, model: Model, period: str = "D", since: datetime = EPOCH) -> pd.DataFrame:
    """Per period: rows received, ingested, quarantined and the quarantined share."""
    assert model.id is not None
    held = _bucket(period, "placed")
    per_day = kept_days(w, days=Days(model.id, since=since))
    with (
        registered(w, name="mb_kept_days", frame=per_day) as kept,
        _quarantined(w, model) as quarantined,
    ):
        return w.frame(
            f"WITH k AS (SELECT {_bucket(period, 'day')} AS period, sum(n)::BIGINT AS n "
            f"FROM {kept} GROUP BY 1), "
            f"q AS (SELECT {held} AS period, count(*) AS n FROM {quarantined} "
            "WHERE placed >= ? GROUP BY 1) "
            "SELECT period, COALESCE(k.n, 0) + COALESCE(q.n, 0) AS received, "
            "COALESCE(k.n, 0) AS ingested, COALESCE(q.n, 0) AS quarantined, "
            "COALESCE(q.n, 0) / (COALESCE(k.n, 0) + COALESCE(q.n, 0)) AS quarantined_share "
            "FROM k FULL JOIN q USING (period) ORDER BY period",
            [model.id, since],
        )


def reasons(w: Work, *, model: Model, period: str = "D", since: datetime = EPOCH) -> pd.DataFrame:
    """Per period and reason: quarantined rows and their share of all rows received; within a
    period the largest reason first (ties by name), the one the headline names."""
    held = _bucket(period, "placed")
    with _quarantined(w, model) as quarantined:
        frame = w.frame(
            f"SELECT {held} AS period, reason, count(*) AS rows FROM (SELECT placed, "
            f"unnest(reasons) AS reason FROM {quarantined} WHERE placed >= ?) "
            "GROUP BY ALL ORDER BY period, rows DESC, reason",
            [model.id, since],
        )
    totals = volume(w, model=model, period=period, since=since).set_index("period")["received"]
    frame["share"] = frame["rows"] / frame["period"].map(totals)
    return frame


def can_have(feature: Feature, problem: str) -> bool:
    """Whether FEATURE can show PROBLEM: any input can be missing, only a numeric one with a
    reference range can leave it, only a categorical one with a closed list can hold an unknown
    category."""
    if problem == "out_of_range":
        return feature.kind == "numeric" and None not in (feature.min, feature.max)
    if problem == "unknown_category":
        return (
            feature.kind == "categorical"
            and bool(feature.categories)
            and not feature.open_categories
        )
    return True


def checks(feature: Feature) -> str:
    """What feature_rates checks FEATURE's kept values against, as one canonical string: a
    team store's day counts answer only for the checks they were counted with."""
    rule: dict[str, object] = {"column": feature.column}
    if can_have(feature, "out_of_range"):
        rule["range"] = [feature.min, feature.max]
    if can_have(feature, "unknown_category"):
        rule["categories"] = sorted(feature.categories)
    return json.dumps(rule, sort_keys=True)


def feature_rates(
    w: Work, *, model: Model, features: list[Feature], period: str = "D"
) -> pd.DataFrame:
    """Per period and feature: missing, out-of-range and unknown-category rates of rows received,
    for the problems each feature can have (`can_have`).

    Kept rows are measured from their typed columns against the version's reference profile;
    quarantined rows add through their reasons, so a rejected missing value still counts.
    """
    wide = _kept_problems(w, model, features, period)
    held = _bucket(period, "placed")
    with _quarantined(w, model) as quarantined:
        rejected = w.frame(
            f"SELECT {held} AS period, reason, count(*) AS n FROM (SELECT placed, "
            f"unnest(reasons) AS reason FROM {quarantined}) GROUP BY ALL",
            [model.id],
        )
    received = volume(w, model=model, period=period).set_index("period")["received"]
    rows = []
    for i, f in enumerate(features):
        for kind, prefix in (("missing", "m"), ("out_of_range", "o"), ("unknown_category", "u")):
            if not can_have(f, kind):
                continue
            counts = (
                wide.set_index("period")[f"{prefix}{i}"] if len(wide) else pd.Series(dtype=float)
            )
            extra = rejected[rejected["reason"] == f"{kind}:{f.name}"].set_index("period")["n"]
            total = counts.add(extra, fill_value=0).reindex(received.index, fill_value=0)
            for period_start, n, base in zip(total.index, total, received.to_numpy(), strict=True):
                rows.append((period_start, f.name, kind, int(n), n / base))
    return pd.DataFrame(rows, columns=["period", "feature", "problem", "rows", "rate"])


def _kept_problems(w: Work, model: Model, features: list[Feature], period: str) -> pd.DataFrame:
    """Per period, each feature's missing (m<i>), out-of-range (o<i>) and unknown (u<i>) kept
    rows, for the problems it can have: from a team store's day counts when they were counted
    with these features' checks, else from the logs."""
    assert model.id is not None
    kept = _bucket(period, "ts")
    counts = quality_days(w, model_id=model.id, checks={f.column: checks(f) for f in features})
    if counts is not None:
        parts = []
        for i, f in enumerate(features):
            pick = f"WHERE feature = {quote_literal(f.column)}"
            parts.append(f"COALESCE(sum(missing) FILTER ({pick}), 0)::BIGINT AS m{i}")
            if can_have(f, "out_of_range"):
                parts.append(f"COALESCE(sum(out_of_range) FILTER ({pick}), 0)::BIGINT AS o{i}")
            if can_have(f, "unknown_category"):
                parts.append(f"COALESCE(sum(unknown) FILTER ({pick}), 0)::BIGINT AS u{i}")
        with registered(w, name="mb_quality_days", frame=counts) as name:
            return w.frame(
                f"SELECT {_bucket(period, 'day')} AS period, {', '.join(parts)} FROM {name} "
                "GROUP BY 1 ORDER BY 1"
            )
    parts = []
    for i, f in enumerate(features):
        parts.append(f"count(*) FILTER (WHERE {f.column} IS NULL) AS m{i}")
        if can_have(f, "out_of_range"):
            parts.append(
                f"count(*) FILTER (WHERE {f.column} < {f.min!r} OR {f.column} > {f.max!r}) AS o{i}"
            )
        if can_have(f, "unknown_category"):
            listed = ", ".join(quote_literal(c) for c in f.categories)
            parts.append(f"count(*) FILTER (WHERE {f.column} NOT IN ({listed})) AS u{i}")
    return w.frame(
        f"SELECT {kept} AS period, {', '.join(parts)} FROM {log_tables.pred_table(model.id)} "
        "GROUP BY 1 ORDER BY 1"
    )


def latency(w: Work, *, model: Model, period: str = "D", since: datetime = EPOCH) -> pd.DataFrame:
    """Per period: latency p50/p95/p99 (from 1%-wide bins) and the share of measured requests
    slower than the SLO (exact; a team store's day counts answer when counted at that SLO)."""
    assert model.id is not None
    slo = latency_slo(model)
    _bucket(period, "ts")  # checks the period
    days = Days(model.id, since=since)
    counts = counted(w, days=days) and counted_at(w, days=days, column="slo_ms", value=slo)
    frame = latency_days(w, days=days, slo_ms=slo, counts=counts)
    frame["period"] = period_of(frame["day"], period)
    frame["measured"] = frame["n"].where(frame["bin"].notna(), 0)
    out = (
        frame.groupby("period", sort=True)
        .agg(over_slo=("over_slo", "sum"), measured=("measured", "sum"))
        .reset_index()
    )
    share = out.pop("over_slo") / out["measured"].where(out["measured"] > 0)
    out.insert(1, "over_slo_share", share.astype(float))
    quantiles = measured_quantiles(frame, by="period", keys=out["period"])
    out = pd.concat([out, quantiles], axis=1)
    out["slo_ms"] = slo
    return out


def batches(w: Work, *, model: Model, limit: int = 20) -> pd.DataFrame:
    """Prediction batches with rejected rows: file, time, counts, reasons, and which caused a
    spike (`spike`, with `spike_reason` in words); spike batches first, then by rejected share.

    A batch caused a spike when its rejected share is more than SPIKE_FACTOR times the typical
    share, the median over all the model's prediction batches (clean ones included), and at
    least SPIKE_MIN_POINTS above it: one bad file among clean ones stands out, while a feed that
    always loses a few rows per file does not mark every file. A quarantine retry re-sends rows
    that were already rejected, not new traffic: it is listed, but never a spike nor part of
    the typical share.
    """
    return w.frame(
        "WITH b AS (SELECT *, rows_quarantined / greatest(rows_read, 1) AS quarantined_share, "
        "starts_with(source, ?) AS retry FROM batch WHERE model_id = ? AND kind = 'prediction'), "
        "typical AS (SELECT median(quarantined_share) AS share, count(*) AS n FROM b "
        "WHERE NOT retry), "
        "judged AS (SELECT b.*, t.share AS typical_share, t.n AS n_batches, (NOT b.retry "
        "AND b.quarantined_share > ? * t.share AND b.quarantined_share - t.share >= ?) AS spike "
        "FROM b, typical t) "
        "SELECT batch_id, source, created_at, rows_read, rows_ingested, rows_quarantined, "
        "quarantined_share, spike, CASE WHEN spike THEN printf("
        "'%.1f%% of its rows were rejected, against a typical %.1f%% (median of %d batches)', "
        "100 * quarantined_share, 100 * typical_share, n_batches) END AS spike_reason, reasons "
        "FROM judged WHERE rows_quarantined > 0 "
        "ORDER BY spike DESC, quarantined_share DESC, created_at DESC LIMIT ?",
        [RETRY_PREFIX, model.id, SPIKE_FACTOR, SPIKE_MIN_POINTS, int(limit)],
    )


def samples(w: Work, *, model: Model, batch_id: str, limit: int = 50) -> pd.DataFrame:
    """Quarantined rows of one batch as received, with every reason."""
    return w.frame(
        "SELECT line, array_to_string(reasons, ', ') AS reasons, raw FROM quarantine "
        "WHERE model_id = ? AND batch_id = ? ORDER BY line LIMIT ?",
        [model.id, batch_id, int(limit)],
    )


@dataclass(frozen=True)
class Headline:
    """A plain-language account of the latest period's data quality."""

    period: str | None
    text: str
    severity: str  # "ok" | "warning" | "error"


def headline(w: Work, *, model: Model, period: str = "D") -> Headline:
    """One or two sentences on the latest period: rejections, their main cause, latency."""
    since = latest_period_start(w, model=model, period=period)
    vol = volume(w, model=model, period=period, since=since)
    if vol.empty:
        return Headline(None, "No traffic has been logged yet.", "ok")
    last = vol.iloc[-1]
    when = f"{'on' if period == 'D' else 'in the week of'} {day(last['period'])}"
    share = float(last["quarantined_share"])
    if last["quarantined"] == 0:
        text = f"All {int(last['received']):,} requests {when} passed the checks."
    else:
        why = reasons(w, model=model, period=period, since=since)
        top = why[why["period"] == last["period"]].iloc[0]
        text = (
            f"{share:.1%} of the {int(last['received']):,} requests {when} were rejected, "
            f"mostly {describe_reason(top['reason'])} ({int(top['rows']):,} "
            f"{'row' if int(top['rows']) == 1 else 'rows'})."
        )
    lat = latency(w, model=model, period=period, since=since)
    severity = "error" if share >= 0.05 else "warning" if share >= 0.01 else "ok"
    if not lat.empty and pd.notna(lat.iloc[-1]["latency_p95"]):
        p95, slo = float(lat.iloc[-1]["latency_p95"]), latency_slo(model)
        verdict = "within" if p95 <= slo else "over"
        text += f" Latency p95 was {p95:,.0f} ms, {verdict} the {slo:,.0f} ms target."
        if p95 > slo and severity == "ok":
            severity = "warning"
    return Headline(f"{last['period']:%Y-%m-%d}", text, severity)


_REASON_WORDS = {
    "missing": "a missing '{}'",
    "wrong_type": "an unreadable '{}'",
    "not_finite": "an infinite or NaN '{}'",
    "out_of_range": "'{}' outside the usual range",
    "unknown_category": "an unknown '{}' category",
}
_PLAIN = {
    "missing_request_id": "a missing request id",
    "request_id_too_long": f"a request id longer than {MAX_REQUEST_ID} characters",
    "duplicate_request_id_in_file": "request ids repeated within a file",
    "duplicate_request_id_in_store": "request ids that were already logged",
    "missing_prediction": "a missing prediction",
    "bad_prediction": "an unreadable prediction",
    "prediction_outside_0_1": "a score outside 0–1",
    "bad_timestamp": "an unreadable timestamp",
    "future_timestamp": "a timestamp in the future",
    "bad_latency": "an unreadable latency",
    "negative_latency": "a negative latency",
    "malformed_row": "rows the file format could not parse",
}


def describe_reason(reason: str) -> str:
    """A reason code in words, e.g. 'missing:income' -> 'a missing `income`'."""
    kind, _, feature = reason.partition(":")
    if feature and kind in _REASON_WORDS:
        return _REASON_WORDS[kind].format(feature)
    return _PLAIN.get(reason, reason.replace("_", " "))
