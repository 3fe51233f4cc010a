"""Windows over prediction logs: calendar periods (D/W/M) or chunks of N rows in time order."""

from __future__ import annotations

from dataclasses import dataclass

from core.errors import InvalidInput
from core.words import PERIODS


@dataclass(frozen=True)
class WindowSpec:
    """How logs are cut into windows; exactly one of period or chunk_size is set."""

    period: str | None = "W"
    chunk_size: int | None = None

    @classmethod
    def parse(cls, period: str | None = None, chunk_size: int | None = None) -> WindowSpec:
        """Validate user input: a period letter or a positive chunk size (default weekly)."""
        if period and chunk_size:
            raise InvalidInput("give either a period (D, W, M) or a chunk size, not both")
        if chunk_size is not None:
            if chunk_size < 1:
                raise InvalidInput("the chunk size must be a positive number of rows")
            return cls(None, int(chunk_size))
        period = (period or "W").upper()
        if period not in PERIODS:
            raise InvalidInput(f"unknown period {period!r}; use D, W or M")
        return cls(period, None)

    def key_sql(self) -> str:
        """SQL giving each log row its window key (an integer, increasing with time)."""
        if self.chunk_size:
            return f"(row_number() OVER (ORDER BY ts, request_id) - 1) // {int(self.chunk_size)}"
        return f"epoch(date_trunc('{self._unit()}', ts))::BIGINT"

    def bounds_sql(self) -> tuple[str, str]:
        """SQL for a window's start and end, given its rows (min/max ts for chunks)."""
        if self.chunk_size:
            return "min(ts)", "max(ts)"
        unit = self._unit()
        return (
            f"date_trunc('{unit}', min(ts))",
            f"date_trunc('{unit}', min(ts)) + INTERVAL 1 {unit}",
        )

    def _unit(self) -> str:
        """The calendar unit of a period window."""
        assert self.period is not None, "a window without a chunk size has a period"
        return PERIODS[self.period]

    def label(self) -> str:
        """Human description, e.g. 'per week' or 'per 5,000 rows'."""
        if self.chunk_size:
            return f"per {self.chunk_size:,} rows"
        return f"per {self._unit()}"
