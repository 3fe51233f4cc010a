"""Where log files live: a folder on this machine or a shared file system, named by a path or a
`file://` URL, or a folder in an S3-compatible object store (`s3://bucket/folder`). Every file
under it is named by a path relative to it, as the catalog records it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import unquote, urlsplit

from core.errors import InvalidInput
from core.logfiles.object_store import SCHEMES, ObjectFolder

_URL = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")

# Other object stores would work the same way through their fsspec packages (gcsfs, adlfs), but
# only the S3 API is tested; Google Cloud Storage and most others also speak it.
_OBJECT_STORES = {"gs", "gcs", "az", "abfs", "abfss", "r2", "hf", "http", "https"}


@dataclass(frozen=True)
class LogLocation:
    """The root folder of the log files: an absolute path (ROOT) or an object store folder
    (REMOTE), exactly one of them."""

    root: Path | None
    remote: ObjectFolder | None = None

    @classmethod
    def parse(cls, text: str, *, create: bool = False) -> LogLocation:
        """The location TEXT names (a folder path, a file:// or an s3:// URL); CREATE makes a
        local folder (an object store's bucket must exist: it is checked, never created)."""
        given = text.strip()
        if not given:
            raise InvalidInput("the log location is empty; give a folder path or a file:// URL")
        scheme = _URL.match(given)
        if scheme and scheme.group(1).lower() in SCHEMES:
            remote = ObjectFolder.parse(given)
            remote.check()
            return cls(None, remote)
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

    @classmethod
    def of(cls, stored: str) -> LogLocation:
        """The location the catalog recorded (see `stored`), without checking it again."""
        if _URL.match(stored):
            return cls(None, ObjectFolder.parse(stored))
        return cls(Path(stored))

    @property
    def stored(self) -> str:
        """What the catalog records: the folder's absolute path or the object store's URL."""
        return self.remote.url if self.remote else str(self.folder)

    @property
    def url(self) -> str:
        """The location as a URL (file:// or s3://)."""
        return self.remote.url if self.remote else self.folder.as_uri()

    @property
    def folder(self) -> Path:
        """The local folder; ValueError for an object store, whose files have no path here."""
        if self.root is None:
            raise ValueError(f"the log location {self.stored} is not a folder on this machine")
        return self.root

    def path_of(self, relative: str) -> Path:
        """The file at RELATIVE (a catalog path) under this local location."""
        return self.folder.joinpath(*_checked(relative).parts)

    def address(self, relative: str) -> str:
        """What DuckDB reads for the file at RELATIVE: a local path or an s3:// URL (see
        `attach`)."""
        if self.remote:
            return self.remote.address(_checked(relative).as_posix())
        return str(self.path_of(relative))

    def attach(self, con: Any) -> None:
        """Let the DuckDB connection CON read this location's s3:// addresses (through fsspec:
        DuckDB's own httpfs extension is downloaded at first use, out of reach offline)."""
        if self.remote and not any(name.startswith("s3") for name in con.list_filesystems()):
            con.register_filesystem(self.remote.fs)


def _checked(relative: str) -> PurePosixPath:
    parts = PurePosixPath(relative)
    if parts.is_absolute() or ".." in parts.parts or not parts.parts:
        raise ValueError(f"not a path inside the log location: {relative!r}")
    return parts


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
            f"the log location {url}: {scheme}:// object stores are not supported yet; give "
            "an s3:// URL (most object stores speak the S3 API, with AWS_ENDPOINT_URL naming "
            "the endpoint) or a folder (a mounted shared file system works)"
        )
    return f"the log location {url}: {scheme}:// is not a kind of location we know; give a folder"
