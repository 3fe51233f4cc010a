"""What `modelbridge demo` shows while it builds: each step with its time, and a bar across the
log and label files, on stderr (a terminal gets a live display, a log file one line a step)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType

from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)

# Called by an ingest job with (file name, None) when a file starts, (file name, rows) when done.
FileProgress = Callable[[str, int | None], None]


class DemoProgress:
    """The demo build's steps on stderr; silent when QUIET."""

    def __init__(self, *, quiet: bool) -> None:
        self._console = Console(stderr=True)
        self._quiet = quiet
        # Without a terminal (make run piped to a file, CI) a live display shows nothing until
        # it stops: print one line per step instead.
        self._live = not quiet and self._console.is_terminal
        self._bar = Progress(
            SpinnerColumn(finished_text="[green]✓"),
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.fields[detail]}"),
            TimeElapsedColumn(),
            console=self._console,
            disable=not self._live,
        )

    def __enter__(self) -> DemoProgress:
        self._bar.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self._bar.stop()

    @contextmanager
    def step(self, what: str) -> Iterator[None]:
        """Show WHAT as running while the block runs, then as done with its time."""
        task = self._bar.add_task(what, total=None, detail="")
        started = time.monotonic()
        self._line(f"{what} ...")
        yield
        self._bar.update(task, total=1, completed=1)
        self._line(f"{what}: done in {time.monotonic() - started:.1f} s")

    def files(self, what: str, paths: list[Path]) -> FileProgress:
        """A callback for an ingest job that advances a bar across PATHS."""
        task = self._bar.add_task(f"Loading {what}", total=len(paths), detail="")
        done = {"files": 0, "rows": 0}
        started = time.monotonic()
        self._line(f"Loading {len(paths)} {what} ...")
        if not paths:  # a short demo ends before any outcome arrives: say so, and move on
            self._bar.update(task, detail="none")
            self._line(f"Loading {what}: 0/0 files, 0 rows in 0.0 s")

        def report(name: str, rows: int | None) -> None:
            if rows is None:
                return
            done["files"] += 1
            done["rows"] += rows
            detail = f"{done['files']}/{len(paths)} files, {done['rows']:,} rows"
            self._bar.update(task, completed=done["files"], detail=detail)
            if done["files"] == len(paths):
                self._line(f"Loading {what}: {detail} in {time.monotonic() - started:.1f} s")

        return report

    def _line(self, text: str) -> None:
        if not self._quiet and not self._live:
            self._console.print(f"demo: {text}", highlight=False, soft_wrap=True)
