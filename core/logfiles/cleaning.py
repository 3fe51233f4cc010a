"""Removing orphaned log files: what crashed or abandoned batches left under the location."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Collection, Iterator
from pathlib import Path

from core.logfiles.location import LogLocation
from core.logfiles.writing import PARTITIONS

# Only names the writer makes are ever removed, and only inside its kind=… folders: a location
# shared with other files loses nothing else.
_OURS = re.compile(
    r"^(\.[A-Za-z0-9._-]+\.parquet\.[0-9a-f]+\.tmp|[A-Za-z0-9][A-Za-z0-9._-]*\.parquet)$"
)


def clean_orphans(
    location: LogLocation, *, committed_paths: Collection[str], grace_seconds: float
) -> list[str]:
    """Remove log files (finished or temporary) that the catalog does not list and that were
    last written more than GRACE_SECONDS ago; return their paths relative to LOCATION.

    A worker's files are uncommitted from the moment it writes them until its catalog commit,
    and nothing on disk tells them from a crashed worker's: only age does. So the grace period
    must be longer than any worker takes from writing to committing, and commit_rows refuses
    files older than half of it. Read COMMITTED_PATHS from the catalog just before calling: a
    file committed after that read is then younger than the grace period and is kept. Empty
    folders stay: a worker may be about to write into one. In an object store, a file's time
    is when its upload ended.
    """
    cutoff = time.time() - grace_seconds
    committed = set(committed_paths)
    removed = []
    for relative, modified in _files(location):
        if relative in committed or not _OURS.match(relative.rsplit("/", 1)[-1]):
            continue
        if modified >= cutoff:
            continue
        if location.remote is not None:
            again = location.remote.stat(relative)
            if again is None or again[1] >= cutoff:
                continue  # removed by another cleaner, or uploaded again since it was listed
            location.remote.remove(relative)
        else:
            try:
                if location.path_of(relative).stat().st_mtime >= cutoff:
                    continue  # written again since it was listed
                location.path_of(relative).unlink()
            except FileNotFoundError:
                continue  # renamed into place or removed by another cleaner meanwhile
        removed.append(relative)
    return sorted(removed)


def _files(location: LogLocation) -> Iterator[tuple[str, float]]:
    """Every file under the kind=… folders: its path relative to LOCATION and when it was last
    written."""
    for kind in PARTITIONS:
        if location.remote is not None:
            for relative, (_, modified) in location.remote.listing(f"kind={kind}").items():
                yield relative, modified
            continue
        top = location.folder / f"kind={kind}"
        for folder, _, names in os.walk(top):
            for name in names:
                path = Path(folder) / name
                try:
                    modified = path.stat().st_mtime
                except FileNotFoundError:
                    continue
                yield path.relative_to(location.folder).as_posix(), modified
