"""Windows read from a team store's per-day counts instead of its logs.

A team store keeps counts per version and day in its catalog (core.aggregates.day_counts), so
dashboard replicas read small tables instead of scanning Parquet logs. They serve calendar
windows (a day, week or month is a sum of days) over a version's own logs; chunks of rows, a
start within a day, another version's bins, or days still waiting to be counted read the logs
as the embedded store does. Numeric bins keep infinities apart in the catalog; they are folded
into the tails here, as the logs' bin codes are (core.monitoring.bulk_histograms).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from core.monitoring.bulk_histograms import WindowPlan, plan_counted_days
from core.monitoring.histograms import FINE_BINS, NEG_INF_BIN, POS_INF_BIN, NumericBins
from core.monitoring.windows import WindowSpec
from core.store import Work

_EPOCH = np.datetime64("1970-01-01", "s")


def counted(
    w: Work,
    *,
    model_id: int,
    version: int,
    spec: WindowSpec,
    since: Any = None,
    logs_version: int | None = None,
) -> bool:
    """Whether these windows can be read from stored day counts (see the module's docstring)."""
    if w.space is None or spec.chunk_size or since is not None:
        return False
    if logs_version is not None and logs_version != version:
        return False
    waiting = w.catalog(
        "SELECT count(*) FROM day_stale WHERE model_id = :model AND version = :version",
        {"model": model_id, "version": version},
    ).scalar()
    return not waiting


@dataclass(frozen=True)
class CountedWindows:
    """Binned counts per window of a plan over stored days, as LoggedWindows reads logs."""

    plan: WindowPlan
    model_id: int
    version: int

    @classmethod
    def of(cls, w: Work, *, model_id: int, version: int, spec: WindowSpec) -> CountedWindows:
        """The windows of VERSION's counted days."""
        days = w.catalog_frame(
            "SELECT day, sum(n) AS n FROM day_score WHERE model_id = :model AND "
            "version = :version GROUP BY day ORDER BY day",
            {"model": model_id, "version": version},
        )
        days["day"] = pd.to_datetime(days["day"])
        return cls(plan_counted_days(w, days=days, spec=spec), model_id, version)

    def _read(self, w: Work, sql: str, **params: Any) -> pd.DataFrame:
        return w.catalog_frame(sql, {"model": self.model_id, "version": self.version, **params})

    def _keys(self, days: pd.Series) -> np.ndarray:
        stamps = pd.to_datetime(days).to_numpy("datetime64[s]")
        return (stamps - _EPOCH).astype(np.int64)

    def numeric(
        self, w: Work, *, column: str, bins: NumericBins
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Per window and bin of a numeric column: window, bin, rows, sum of finite values."""
        got = self._read(
            w,
            "SELECT day, bin, n, total FROM day_numeric WHERE model_id = :model AND "
            "version = :version AND feature = :feature",
            feature=column,
        )
        bin_ = got["bin"].to_numpy(np.int64)
        bin_ = np.where(bin_ == NEG_INF_BIN, 0, np.where(bin_ == POS_INF_BIN, FINE_BINS + 1, bin_))
        total = pd.to_numeric(got["total"], errors="coerce").to_numpy(float)
        return (
            self.plan.locate(self._keys(got["day"])),
            bin_,
            got["n"].to_numpy(float),
            total,
        )

    def category(self, w: Work, *, column: str) -> pd.DataFrame:
        """Per window (w: a key for plan.locate) and value (None: missing) of a column: rows."""
        got = self._read(
            w,
            "SELECT day, value, n FROM day_category WHERE model_id = :model AND "
            "version = :version AND feature = :feature",
            feature=column,
        )
        return pd.DataFrame({"w": self._keys(got["day"]), "value": got["value"], "n": got["n"]})

    def scores(self, w: Work) -> pd.DataFrame:
        """Per window (w: the window's key, as WindowSpec.key_sql gives it) and score bin: n,
        score sum (s), labelled rows and positives, as performance.binary_counts reads logs."""
        got = self._read(
            w,
            "SELECT day, bin, n, score_sum AS s, labelled, positives FROM day_score "
            "WHERE model_id = :model AND version = :version",
        )
        where = self.plan.locate(self._keys(got["day"]))
        got["g"] = self.plan.windows["w"].to_numpy()[where]
        return (
            got.groupby(["g", "bin"], as_index=False, sort=True)[
                ["n", "s", "labelled", "positives"]
            ]
            .sum()
            .astype({"n": "int64", "labelled": "int64"})
        )
