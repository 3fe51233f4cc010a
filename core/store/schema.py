"""The store's tables and their upgrades, on either catalog (DuckDB file or PostgreSQL).

Catalog tables are SQLModel classes (core.store.tables) plus the few below, written in SQL both
engines read alike. Log tables (labels here, per-model logs in core.store.log_tables) live in
the embedded DuckDB database.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from core.errors import ModelBridgeError

if TYPE_CHECKING:
    from core.store.engine import Work
    from core.store.portable import CatalogReader

# Bump whenever a table or column is added: opening an older store then creates the missing
# tables and runs the MIGRATIONS steps (column changes) in order.
SCHEMA_VERSION = 10

# The per-day counts of a team store, all keyed by model, version and day.
DAY_TABLES = (
    "day_numeric", "day_category", "day_score", "day_decision", "day_curve", "day_error",
    "day_traffic", "day_latency", "day_traffic_score", "day_quality", "day_batch",
    "day_class", "day_class_cell", "day_class_moment",
)  # fmt: skip

CATALOG_DDL = [
    """CREATE TABLE IF NOT EXISTS store_meta (key VARCHAR PRIMARY KEY, value VARCHAR)""",
    """CREATE TABLE IF NOT EXISTS batch (
        batch_id VARCHAR NOT NULL, model_id INTEGER NOT NULL, version INTEGER,
        kind VARCHAR NOT NULL, source VARCHAR NOT NULL, content_sha256 VARCHAR NOT NULL,
        rows_read BIGINT NOT NULL, rows_ingested BIGINT NOT NULL, rows_quarantined BIGINT NOT NULL,
        reasons VARCHAR NOT NULL, created_at TIMESTAMP NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS quarantine (
        model_id INTEGER NOT NULL, batch_id VARCHAR NOT NULL, kind VARCHAR NOT NULL,
        source VARCHAR NOT NULL, line BIGINT NOT NULL, reasons VARCHAR[] NOT NULL,
        raw VARCHAR NOT NULL, quarantined_at TIMESTAMP NOT NULL,
        retried_in VARCHAR, ts TIMESTAMP)""",
    # Webhook events written with the change that caused them, delivered after commit.
    """CREATE TABLE IF NOT EXISTS webhook_outbox (
        id VARCHAR PRIMARY KEY, created_at TIMESTAMP NOT NULL, payload VARCHAR NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0, delivered_at TIMESTAMP, last_error VARCHAR)""",
    # One row per model: the primary key is what makes "one production version" hold.
    """CREATE TABLE IF NOT EXISTS production_version (
        model_id INTEGER PRIMARY KEY, version INTEGER NOT NULL, promoted_by VARCHAR NOT NULL,
        promoted_at TIMESTAMP NOT NULL)""",
    # A team store's per-day counts (core.aggregates.day_counts): the dashboard reads these
    # instead of the logs. A day whose logs or labels changed is listed in day_stale until it is
    # counted again; its generation changes with every change, so a count taken meanwhile does
    # not clear it.
    """CREATE TABLE IF NOT EXISTS day_stale (
        model_id INTEGER NOT NULL, version INTEGER NOT NULL, day DATE NOT NULL,
        generation BIGINT NOT NULL, PRIMARY KEY (model_id, version, day))""",
    """CREATE TABLE IF NOT EXISTS day_numeric (
        model_id INTEGER NOT NULL, version INTEGER NOT NULL, day DATE NOT NULL,
        feature VARCHAR NOT NULL, bin INTEGER NOT NULL, n BIGINT NOT NULL,
        total DOUBLE PRECISION)""",
    """CREATE TABLE IF NOT EXISTS day_category (
        model_id INTEGER NOT NULL, version INTEGER NOT NULL, day DATE NOT NULL,
        feature VARCHAR NOT NULL, value VARCHAR, n BIGINT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS day_score (
        model_id INTEGER NOT NULL, version INTEGER NOT NULL, day DATE NOT NULL,
        bin INTEGER NOT NULL, n BIGINT NOT NULL, score_sum DOUBLE PRECISION NOT NULL,
        labelled BIGINT NOT NULL, positives DOUBLE PRECISION NOT NULL)""",
    # What the business value figures need (core.aggregates.value_counts): a binary model's
    # decisions per side of the business case's THRESHOLD they were counted at, its labelled
    # scores on the threshold curve's bins, a regression model's errors.
    """CREATE TABLE IF NOT EXISTS day_decision (
        model_id INTEGER NOT NULL, version INTEGER NOT NULL, day DATE NOT NULL,
        threshold DOUBLE PRECISION NOT NULL, side BOOLEAN NOT NULL, bin INTEGER NOT NULL,
        n BIGINT NOT NULL, score_sum DOUBLE PRECISION NOT NULL, labelled BIGINT NOT NULL,
        positives DOUBLE PRECISION NOT NULL, labelled_score_sum DOUBLE PRECISION NOT NULL,
        first_labelled TIMESTAMP, last_labelled TIMESTAMP)""",
    """CREATE TABLE IF NOT EXISTS day_curve (
        model_id INTEGER NOT NULL, version INTEGER NOT NULL, day DATE NOT NULL,
        bin INTEGER NOT NULL, labelled BIGINT NOT NULL, positives DOUBLE PRECISION NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS day_error (
        model_id INTEGER NOT NULL, version INTEGER NOT NULL, day DATE NOT NULL,
        n BIGINT NOT NULL, labelled BIGINT NOT NULL, low DOUBLE PRECISION NOT NULL,
        high DOUBLE PRECISION NOT NULL, low_sq DOUBLE PRECISION NOT NULL,
        high_sq DOUBLE PRECISION NOT NULL, first_labelled TIMESTAMP, last_labelled TIMESTAMP)""",
    # Traffic and data quality per day (core.aggregates.day_traffic): rows, scores and latency
    # against the SLO it was counted at (slo_ms) on the score chart's range (score_lo/hi), fine
    # latency bins, the score chart's bins, each feature's problems against the checks of the
    # version that logged it, and each batch's newest request (where a doubtful quarantined row
    # is placed).
    """CREATE TABLE IF NOT EXISTS day_traffic (
        model_id INTEGER NOT NULL, version INTEGER NOT NULL, day DATE NOT NULL,
        rows BIGINT NOT NULL, score_sum DOUBLE PRECISION NOT NULL, latency_count BIGINT NOT NULL,
        latency_sum DOUBLE PRECISION, over_slo BIGINT NOT NULL, slow BIGINT NOT NULL,
        slo_ms DOUBLE PRECISION NOT NULL, score_lo DOUBLE PRECISION NOT NULL,
        score_hi DOUBLE PRECISION NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS day_latency (
        model_id INTEGER NOT NULL, version INTEGER NOT NULL, day DATE NOT NULL,
        bin INTEGER NOT NULL, n BIGINT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS day_traffic_score (
        model_id INTEGER NOT NULL, version INTEGER NOT NULL, day DATE NOT NULL,
        bin INTEGER NOT NULL, n BIGINT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS day_quality (
        model_id INTEGER NOT NULL, version INTEGER NOT NULL, day DATE NOT NULL,
        feature VARCHAR NOT NULL, missing BIGINT NOT NULL, out_of_range BIGINT NOT NULL,
        unknown BIGINT NOT NULL, checks VARCHAR NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS day_batch (
        model_id INTEGER NOT NULL, version INTEGER NOT NULL, day DATE NOT NULL,
        batch_id VARCHAR NOT NULL, last_ts TIMESTAMP NOT NULL)""",
    # A multiclass model's performance and value (core.aggregates.class_counts), per class
    # index predicted: rows, labelled ones and sums over the rows of their probabilities as the
    # version's CALIBRATION (a digest) maps them; per actual class the labelled rows and their
    # log loss, and the calibrated probability's sum (expected); per pair of classes a <= b the
    # sum of the calibrated q_a q_b (the value estimate's variance under any value matrix).
    """CREATE TABLE IF NOT EXISTS day_class (
        model_id INTEGER NOT NULL, version INTEGER NOT NULL, day DATE NOT NULL,
        predicted INTEGER NOT NULL, calibration VARCHAR NOT NULL, n BIGINT NOT NULL,
        labelled BIGINT NOT NULL, right_var DOUBLE PRECISION NOT NULL,
        entropy DOUBLE PRECISION NOT NULL, loss_var DOUBLE PRECISION NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS day_class_cell (
        model_id INTEGER NOT NULL, version INTEGER NOT NULL, day DATE NOT NULL,
        predicted INTEGER NOT NULL, actual INTEGER NOT NULL, labelled BIGINT NOT NULL,
        loss DOUBLE PRECISION NOT NULL, expected DOUBLE PRECISION NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS day_class_moment (
        model_id INTEGER NOT NULL, version INTEGER NOT NULL, day DATE NOT NULL,
        predicted INTEGER NOT NULL, a INTEGER NOT NULL, b INTEGER NOT NULL,
        qq DOUBLE PRECISION NOT NULL)""",
    *(f"CREATE INDEX IF NOT EXISTS {t}_day ON {t} (model_id, version, day)" for t in DAY_TABLES),
]

LOG_DDL = [
    """CREATE TABLE IF NOT EXISTS label (
        model_id INTEGER NOT NULL, request_id VARCHAR NOT NULL, label VARCHAR NOT NULL,
        y DOUBLE NOT NULL, arrived_at TIMESTAMP NOT NULL, batch_id VARCHAR NOT NULL)""",
]

_EVERY_LOGGED_DAY_WAITS = (
    "INSERT INTO day_stale (model_id, version, day, generation) SELECT DISTINCT model_id, "
    "version, day, 1 FROM log_file WHERE kind = 'prediction' AND version IS NOT NULL "
    "AND day IS NOT NULL ON CONFLICT DO NOTHING"
)

_MULTICLASS_LOGS = (
    "FROM log_file WHERE model_id IN (SELECT id FROM model WHERE task = 'multiclass') AND"
)

# Each step upgrades a store from the previous schema version; never edit a released step.
MIGRATIONS: dict[int, list[str]] = {
    2: [],  # alerts and the webhook outbox: new tables only
    3: [],  # business case revisions: a new table only
    4: [],  # reviews, sign-offs and promotions: new tables only
    5: ["ALTER TABLE model_version ADD COLUMN IF NOT EXISTS positive_class VARCHAR"],
    6: [],  # log files of a team store: a new table only
    # A team store's per-day counts: new tables, and every day logged so far waits to be counted.
    7: [_EVERY_LOGGED_DAY_WAITS],
    8: ["ALTER TABLE model ADD COLUMN IF NOT EXISTS classes JSON"],  # multiclass models
    # Traffic, quality and value counts per day: new tables, so every logged day is counted
    # again.
    9: [_EVERY_LOGGED_DAY_WAITS],
    # A multiclass model's performance and value per day: new tables, so its logged days wait.
    10: [_EVERY_LOGGED_DAY_WAITS.replace("FROM log_file WHERE", _MULTICLASS_LOGS)],
}


def put_meta(w: CatalogReader, *, key: str, value: str) -> None:
    """Set a store_meta value (an upsert both catalogs accept)."""
    w.catalog(
        "INSERT INTO store_meta (key, value) VALUES (:key, :value) "
        "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        {"key": key, "value": value},
    )


def get_meta(w: CatalogReader, *, key: str) -> str | None:
    """A store_meta value, None when unset."""
    found = w.catalog("SELECT value FROM store_meta WHERE key = :key", {"key": key}).first()
    return None if found is None else str(found[0])


def create_or_upgrade(w: Work, *, with_logs: bool) -> None:
    """Create the missing tables and run the upgrade steps from the store's schema version."""
    # Imported here, not at the top: the schema version is read by light commands, which load
    # neither SQLModel nor the log files' libraries.
    from sqlmodel import SQLModel

    from core.logfiles import LogFile  # noqa: F401  (registers the table on SQLModel.metadata)
    from core.store import tables  # noqa: F401  (registers the tables on SQLModel.metadata)

    for ddl in CATALOG_DDL:
        w.catalog(ddl)
    if with_logs:
        for ddl in LOG_DDL:
            w.sql(ddl)
    SQLModel.metadata.create_all(w.conn)
    found = get_meta(w, key="schema_version")
    current = int(found) if found else SCHEMA_VERSION
    if current > SCHEMA_VERSION:
        raise ModelBridgeError(
            f"This store was written by a newer ModelBridge (schema {current}, this "
            f"release reads up to {SCHEMA_VERSION}); upgrade modelbridge to open it."
        )
    for step in range(current + 1, SCHEMA_VERSION + 1):
        for ddl in MIGRATIONS.get(step, []):
            w.catalog(ddl)
    put_meta(w, key="schema_version", value=str(SCHEMA_VERSION))
