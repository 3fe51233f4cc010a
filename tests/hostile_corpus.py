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


# --- a store whose every user- or data-given text carries markup --------------------------------

# Nothing listens on port 9: a browser that fetched an image of the markup below shows up as a
# request to this host, whether or not it got an answer.
MARKUP_HOST = "127.0.0.1:9"
MARKUP_PASSWORD = "Markup-store-password-1"
# Usernames allow letters, digits, '.', '_' and '-' only: enough for Markdown's __bold__.
MARKUP_USERS = {
    "__manager__": "manager",
    "__expert__": "domain_expert",
    "__owner__": "product_owner",
    "__engineer__": "ml_engineer",
    "__admin__": "admin",
}
MARKUP_USER_OF_ROLE = {role: name for name, role in MARKUP_USERS.items()}


def markup(tag: str) -> str:
    """Text for the field TAG holding Markdown bold, an image, a link, an HTML image, a colour
    directive and LaTeX; each image names TAG, so a fetch tells which field leaked."""
    return (
        f"{tag} **bold** ![x](http://{MARKUP_HOST}/{tag}.png) "
        f"<img src=http://{MARKUP_HOST}/{tag}-html> [link](http://{MARKUP_HOST}) "
        ":red[alarm] $x^2$"
    )


# The model name has at most 100 characters: the markup without its link.
MARKUP_MODEL = (
    f"m **bold** ![x](http://{MARKUP_HOST}/m.png) <img src=http://{MARKUP_HOST}/m-html> "
    ":red[alarm] $x^2$"
)
MARKUP_NUMERIC = markup("income")
MARKUP_CATEGORICAL = markup("segment")
MARKUP_CATEGORY = markup("category")
MARKUP_REQUEST_ID = markup("request")
MARKUP_COMMENT = markup("comment")
MARKUP_UNIT = markup("unit")
MARKUP_FILE = "**bold** :red[alarm] $x^2$ <b>file.csv"  # a file name holds no '/'


def markup_store(folder: Path) -> Path:
    """A store where names, descriptions, lineage, feature names, a category, a request id, a
    file name, a sign-off comment, feature words and the business case all carry markup(); its
    users are MARKUP_USERS. MARKUP_MODEL v1 is live with drifted traffic, outcomes, alerts and a
    quarantined batch; v2 is in review again after a request for changes. Returns its path."""
    import numpy as np
    import pandas as pd
    import skops.io as sio
    from sklearn.compose import make_column_transformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    from core import users, workflow
    from core.auth import Identity
    from core.ingest import ingest_labels, ingest_predictions
    from core.monitoring import alerts
    from core.registry import RegistrationSpec, register_version
    from core.store import Store
    from core.value import business_case

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(5)
    n, n_logs = 1200, 400
    frame = pd.DataFrame(
        {
            MARKUP_NUMERIC: rng.lognormal(10, 0.4, n + n_logs).round(2),
            "debt ratio": rng.uniform(0, 60, n + n_logs).round(1),
            MARKUP_CATEGORICAL: rng.choice(["retail", MARKUP_CATEGORY], n + n_logs, p=[0.7, 0.3]),
        }
    )
    frame.loc[n:, MARKUP_NUMERIC] *= 1.8  # production drifts away from the reference
    logit = -2 + 0.05 * frame["debt ratio"] + (frame[MARKUP_CATEGORICAL] == MARKUP_CATEGORY)
    y = (rng.uniform(size=len(frame)) < 1 / (1 + np.exp(-logit))).astype(int).to_numpy()
    model = make_pipeline(
        make_column_transformer(
            (SimpleImputer(strategy="median"), [MARKUP_NUMERIC, "debt ratio"]),
            (OneHotEncoder(handle_unknown="ignore"), [MARKUP_CATEGORICAL]),
        ),
        LogisticRegression(max_iter=500),
    ).fit(frame.iloc[:n], y[:n])
    scores = model.predict_proba(frame)[:, 1]
    reference = folder / "reference.csv"
    frame.iloc[:n].assign(defaulted=y[:n], score=scores[:n]).to_csv(reference, index=False)
    model_file = folder / "model.skops"
    sio.dump(model, model_file)
    words = folder / "words.json"
    words.write_text(
        json.dumps(
            {
                "outcome": markup("outcome")[:80],
                "population": markup("population")[:80],
                "positive_outcome": markup("positive")[:80],
                "features": {
                    MARKUP_NUMERIC: {
                        "label": f"**bold** ![x](http://{MARKUP_HOST}/label.png)",
                        "unit": f"![x](//{MARKUP_HOST})",
                        "description": markup("description"),
                        "actionable": True,
                    }
                },
            }
        )
    )
    ids = [f"m-{i:05d}" for i in range(n_logs)]
    ids[-1] = MARKUP_REQUEST_ID
    logs = (
        frame.iloc[n:]
        .reset_index(drop=True)
        .assign(
            request_id=ids,
            timestamp=pd.date_range("2026-03-01", periods=n_logs, freq="97min", tz="UTC"),
            score=scores[n:],
            latency_ms=rng.gamma(2.0, 20.0, n_logs).round(2),
        )
    )
    logs.to_csv(folder / "logs.csv", index=False)
    pd.DataFrame({"request_id": ids, "defaulted": y[n:]}).to_csv(folder / "labels.csv", index=False)
    junk = logs.head(40).assign(request_id=[f"junk-{i}" for i in range(40)])
    junk.loc[:9, MARKUP_CATEGORICAL] = markup("unknown")
    junk.loc[10:19, "score"] = 2.0  # quarantined: a score is a probability
    junk.to_csv(folder / MARKUP_FILE, index=False)

    store = Store(folder / "markup.duckdb", lock_wait_seconds=60)
    store.init()
    admin = users.first_admin(store, username="__admin__", password=MARKUP_PASSWORD)
    for name, role in MARKUP_USERS.items():
        if name != admin.username:
            users.add_user(store, username=name, role=role, password=MARKUP_PASSWORD, by=admin)
    owner = Identity("__owner__", "product_owner")
    engineer = Identity("__engineer__", "ml_engineer")
    for _ in (1, 2):
        register_version(
            store,
            spec=RegistrationSpec(
                model=MARKUP_MODEL,
                reference=reference,
                target="defaulted",
                prediction="score",
                model_file=model_file,
                description=markup("description"),
                created_by=markup("creator"),
                git_sha=markup("sha"),
                feature_metadata=words,
            ),
        )
    case = {
        "unit": MARKUP_UNIT,
        "decision": markup("decision"),
        "positive_action": markup("flagged"),
        "negative_action": markup("passed"),
        "baseline": markup("baseline"),
        "value_tp": -150,
        "value_fp": 60,
        "value_tn": 300,
        "value_fn": -2500,
        "target": 100_000,
        "baseline_value": 20,
    }
    business_case.save(store, model=MARKUP_MODEL, changes=case, by=owner)
    workflow.request_review(store, model=MARKUP_MODEL, version=1, by=engineer)
    workflow.sign(
        store, model=MARKUP_MODEL, version=1, by=owner, decision="approve", comment=MARKUP_COMMENT
    )
    workflow.promote(store, model=MARKUP_MODEL, version=1, by=owner)
    ingest_predictions(store, model=MARKUP_MODEL, files=[folder / "logs.csv", folder / MARKUP_FILE])
    ingest_labels(store, model=MARKUP_MODEL, files=[folder / "labels.csv"])
    alerts.refresh(store, model=MARKUP_MODEL)
    workflow.request_review(store, model=MARKUP_MODEL, version=2, by=engineer)
    workflow.sign(
        store,
        model=MARKUP_MODEL,
        version=2,
        by=owner,
        decision="request_changes",
        comment=MARKUP_COMMENT,
    )
    workflow.request_review(store, model=MARKUP_MODEL, version=2, by=engineer)
    return store.path
