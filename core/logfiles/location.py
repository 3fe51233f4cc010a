"""Where log files live: a folder on this machine or a shared file system, named by a path or a
`file://` URL. Every file under it is named by a path relative to it, as the catalog records it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from urllib.parse import unquote, urlsplit

from core.errors import InvalidInput

_URL = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")

# Object stores have no rename: a file appears whole on PUT, so the writer would upload to the
# final key directly (no temporary name), check for an existing object with a conditional PUT
# (If-None-Match) instead of a rename, and list with last-modified times for the cleaner.
# DuckDB needs its httpfs extension for that, which is downloaded at first use and out of reach
# on machines without internet; a writer could instead upload the finished files itself.
_OBJECT_STORES = {"s3", "s3a", "gs", "gcs", "az", "abfs", "abfss", "r2", "hf", "http", "https"}


@dataclass(frozen=True)
class LogLocation:
    """The root folder of the log files (an absolute path)."""

    root: Path

    @classmethod
    def parse(cls, text: str, *, create: bool = False) -> LogLocation:
        """The location TEXT names (a folder path or a file:// URL); CREATE makes the folder."""
        given = text.strip()
        if not given:
            raise InvalidInput("the log location is empty; give a folder path or a file:// URL")
        scheme = _URL.match(given)
        if scheme and scheme.group(1).lower() != "file":
            raise InvalidInput(_unsupported(given, scheme.group(1).lower()))
        root = _file_url_path(given) if scheme else Path(given).expanduser()
        root = root.absolute()
        if root.exists() and not root.is_dir():
            raise InvalidInput(f"the log location {root} is a file; give a folder")
        if not root.exists():
            if not create:
                raise InvalidInput(
                    f"the log location {root} does not exist; create the folder or give another"
                )
            try:
                root.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise InvalidInput(
                    f"cannot create the log location {root} ({exc.strerror}); give a folder "
                    "you can write to"
                ) from None
        return cls(root)

    @property
    def url(self) -> str:
        """The location as a file:// URL."""
        return self.root.as_uri()

    def path_of(self, relative: str) -> Path:
        """The file at RELATIVE (a catalog path) under this location."""
        parts = PurePosixPath(relative)
        if parts.is_absolute() or ".." in parts.parts or not parts.parts:
            raise ValueError(f"not a path inside the log location: {relative!r}")
        return self.root.joinpath(*parts.parts)


def _file_url_path(url: str) -> Path:
    split = urlsplit(url)
    if split.netloc not in ("", "localhost"):
        raise InvalidInput(
            f"the log location {url} names another machine ({split.netloc}); mount its folder "
            "here and give the mounted path"
        )
    if not split.path:
        raise InvalidInput(f"the log location {url} has no folder path")
    return Path(unquote(split.path))


def _unsupported(url: str, scheme: str) -> str:
    if scheme in _OBJECT_STORES:
        return (
            f"the log location {url}: object stores ({scheme}://) are not supported yet. They "
            "have no atomic rename, and DuckDB's httpfs extension cannot be installed on "
            "machines without internet; give a folder (a mounted shared file system works)"
        )
    return f"the log location {url}: {scheme}:// is not a kind of location we know; give a folder"
