"""Small real datasets and scikit-learn models for tests (written to a temporary folder)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import skops.io as sio
import sqlalchemy as sa
from sklearn.compose import make_column_transformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder

from core import users
from core.auth import Identity
from core.errors import PermissionDenied
from core.store import Store, TeamStore, Work

FEATURES = ["income", "debt ratio", "segment"]


@dataclass(frozen=True)
class Case:
    """Files of one small binary or regression model."""

    reference: Path
    model_file: Path
    logs: Path
    labels: Path
    model: object
    frame: pd.DataFrame


def _population(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "income": rng.lognormal(10, 0.4, n).round(2),
            "debt ratio": rng.uniform(0, 60, n).round(1),
            "segment": rng.choice(["retail", "sme", "corporate"], n, p=[0.6, 0.3, 0.1]),
        }
    )


def _pipeline(estimator: object) -> object:
    return make_pipeline(
        make_column_transformer(
            (SimpleImputer(strategy="median"), ["income", "debt ratio"]),
            (OneHotEncoder(handle_unknown="ignore"), ["segment"]),
        ),
        estimator,
    )


def binary_case(folder: Path, *, n: int = 1500, n_logs: int = 400, seed: int = 1) -> Case:
    """A logistic-regression credit model with reference, logs and labels."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    x = _population(n + n_logs, seed)
    logit = (
        -2
        + 0.05 * x["debt ratio"]
        - 0.3 * (x["income"] / x["income"].mean())
        + (x["segment"] == "sme")
    )
    y = (rng.uniform(size=len(x)) < 1 / (1 + np.exp(-logit))).astype(int).to_numpy()
    model = _pipeline(LogisticRegression(max_iter=500)).fit(x.iloc[:n], y[:n])
    scores = model.predict_proba(x)[:, 1]
    ref = x.iloc[:n].assign(defaulted=y[:n], score=scores[:n])
    ref.to_csv(folder / "reference.csv", index=False)
    sio.dump(model, folder / "model.skops")
    logs = (
        x.iloc[n:]
        .reset_index(drop=True)
        .assign(
            request_id=[f"req-{i:05d}" for i in range(n_logs)],
            timestamp=pd.date_range("2026-03-01", periods=n_logs, freq="37min", tz="UTC"),
            score=scores[n:],
            latency_ms=rng.gamma(2.0, 20.0, n_logs).round(2),
        )
    )
    logs.to_parquet(folder / "logs.parquet", index=False)
    labels = pd.DataFrame({"request_id": logs["request_id"], "defaulted": y[n:]}).iloc[::2]
    labels.to_csv(folder / "labels.csv", index=False)
    return Case(
        folder / "reference.csv",
        folder / "model.skops",
        folder / "logs.parquet",
        folder / "labels.csv",
        model,
        logs,
    )


def regression_case(folder: Path, *, n: int = 800, seed: int = 2) -> Case:
    """A linear-regression loss-amount model with reference and logs."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    x = _population(n + 200, seed)
    y = (0.1 * x["income"] + 50 * x["debt ratio"] + rng.normal(0, 100, len(x))).to_numpy()
    model = _pipeline(LinearRegression()).fit(x.iloc[:n], y[:n])
    pred = model.predict(x)
    x.iloc[:n].assign(loss=y[:n], predicted=pred[:n]).to_parquet(folder / "reference.parquet")
    sio.dump(model, folder / "model.skops")
    logs = (
        x.iloc[n:]
        .reset_index(drop=True)
        .assign(
            request_id=[f"r-{i}" for i in range(200)],
            timestamp=pd.date_range("2026-03-01", periods=200, freq="h").strftime(
                "%Y-%m-%dT%H:%M:%SZ"
            ),
            predicted=pred[n:],
        )
    )
    logs.to_csv(folder / "logs.csv", index=False)
    labels = pd.DataFrame({"request_id": logs["request_id"], "loss": y[n:]})
    labels.to_csv(folder / "labels.csv", index=False)
    return Case(
        folder / "reference.parquet",
        folder / "model.skops",
        folder / "logs.csv",
        folder / "labels.csv",
        model,
        logs,
    )


# Core trusts the identity it is given (the CLI and the dashboard establish it by signing in):
# fixtures that set up users act as this admin.
ADMIN = Identity("root", "admin")


def signs_in(store: Store, username: str, password: str) -> Identity | None:
    """The identity USERNAME signs in as with PASSWORD, or None when refused."""
    try:
        return users.sign_in(store, username=username, password=password, client="test")
    except PermissionDenied:
        return None


def tamper(store: Store, sql: str, params: dict[str, object] | None = None) -> None:
    """Change the catalog outside ModelBridge, as someone with the file or the database would."""
    if isinstance(store, TeamStore):
        with sa.create_engine(store.url).begin() as conn:
            conn.execute(sa.text(sql), params or {})
        return
    with duckdb.connect(str(store.path)) as con:
        con.execute(re.sub(r":(\w+)", r"$\1", sql) if params else sql, params or {})


def drop_column(w: Work, table: str, column: str) -> None:
    """DuckDB drops a column only from a table without indexes: drop them, then put them back."""
    if w.dialect == "postgresql":
        w.catalog(f"ALTER TABLE {table} DROP COLUMN {column}")
        return
    indexes = w.rows("SELECT index_name, sql FROM duckdb_indexes() WHERE table_name = ?", [table])
    for name, _ in indexes:
        w.sql(f"DROP INDEX {name}")
    w.sql(f"ALTER TABLE {table} DROP COLUMN {column}")
    for _, sql in indexes:
        w.sql(sql)


def kept_model_files(store: Store) -> dict[str, bytes]:
    """The model files the store keeps, by name: in its artifact folder, or in its bucket."""
    from core.logfiles import ObjectFolder

    home = store.artifact_home
    if isinstance(home, str):
        folder = ObjectFolder.parse(home)
        return {name: folder.fs.cat_file(folder.key(name)) for name in folder.listing("")}
    return {p.name: p.read_bytes() for p in home.glob("*")} if home.exists() else {}
