"""A folder in an object store: Amazon S3, or any store that speaks its API (MinIO, Ceph, R2,
Google Cloud Storage's interoperability endpoint), reached through fsspec's s3fs.

Credentials and the endpoint come from the machine's own AWS settings (AWS_ACCESS_KEY_ID,
AWS_SECRET_ACCESS_KEY, AWS_ENDPOINT_URL, AWS_PROFILE, ~/.aws/…), never from the catalog: each
worker and replica signs with what it was given. An object appears whole when its upload ends,
so files are uploaded to their final key, with no temporary name and no rename; a retried batch
uploads the same bytes to the same key. Listings are never cached: another machine may have
written a file a moment ago.
"""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.errors import InvalidInput, ModelBridgeError, StoreFault

SCHEMES = ("s3", "s3a")


@dataclass(frozen=True)
class ObjectFolder:
    """The folder s3://BUCKET/PREFIX (PREFIX without slashes at either end, maybe empty)."""

    bucket: str
    prefix: str

    @classmethod
    def parse(cls, url: str) -> ObjectFolder:
        """The folder URL names; InvalidInput when it names no bucket."""
        scheme, _, rest = url.partition("://")
        if scheme.lower() not in SCHEMES:
            raise InvalidInput(f"{url}: not an S3 URL (s3://bucket/folder)")
        bucket, _, prefix = rest.partition("/")
        if not bucket or "?" in rest or "#" in rest:
            raise InvalidInput(f"the log location {url} names no bucket; give s3://bucket/folder")
        parts = [p for p in prefix.split("/") if p]
        if any(p in (".", "..") for p in parts):
            raise InvalidInput(f"the log location {url} has '.' or '..' in its folder")
        return cls(bucket, "/".join(parts))

    @property
    def url(self) -> str:
        return f"s3://{self.key('')}".rstrip("/")

    def key(self, relative: str) -> str:
        """BUCKET/PREFIX/RELATIVE, as s3fs names an object."""
        return "/".join(p for p in (self.bucket, self.prefix, relative) if p)

    def address(self, relative: str) -> str:
        """The object's s3:// URL, as DuckDB reads it through the registered file system."""
        return f"s3://{self.key(relative)}"

    @property
    def fs(self) -> Any:
        return _filesystem()

    def check(self) -> None:
        """InvalidInput unless the bucket can be listed with this machine's credentials."""
        with self.calls(f"cannot reach the log location {self.url}"):
            try:
                self.fs.ls(self.bucket, refresh=True)
            except FileNotFoundError:
                raise InvalidInput(
                    f"the log location {self.url}: bucket {self.bucket} does not exist at "
                    f"{self.endpoint}; create it, or give another"
                ) from None

    @property
    def endpoint(self) -> str:
        """The endpoint this machine reaches the store at (AWS_ENDPOINT_URL, else AWS)."""
        return str(self.fs.s3.meta.endpoint_url) if self.fs.s3 else "Amazon S3"

    def put(self, local: Path, relative: str) -> None:
        """Upload the file LOCAL to RELATIVE; the object is there whole once this returns."""
        with self.calls(f"cannot upload {relative} to {self.url}"):
            self.fs.put_file(str(local), self.key(relative))

    def stat(self, relative: str) -> tuple[int, float] | None:
        """Size and last-modified time (seconds since the epoch) of RELATIVE, or None."""
        with self.calls(f"cannot read {relative} under {self.url}"):
            try:
                info = self.fs.info(self.key(relative), refresh=True)
            except FileNotFoundError:
                return None
        return int(info["size"]), info["LastModified"].timestamp()

    def listing(self, relative: str) -> dict[str, tuple[int, float]]:
        """Every object under the folder RELATIVE: its path relative to this folder, with its
        size and last-modified time."""
        top = self.key(relative)
        with self.calls(f"cannot list {relative} under {self.url}"):
            try:
                found = self.fs.find(top, detail=True, refresh=True)
            except FileNotFoundError:
                return {}
        cut = len(self.key("")) + 1
        return {
            name[cut:]: (int(info["size"]), info["LastModified"].timestamp())
            for name, info in found.items()
            if info.get("type") == "file"
        }

    def remove(self, relative: str) -> None:
        with self.calls(f"cannot remove {relative} under {self.url}"), suppress(FileNotFoundError):
            self.fs.rm_file(self.key(relative))

    def fetch(self, relative: str, local: Path) -> str:
        """Download RELATIVE to LOCAL (whole, by rename) and return its SHA-256."""
        local.parent.mkdir(parents=True, exist_ok=True)
        part = Path(tempfile.mkstemp(dir=local.parent, suffix=".part")[1])
        try:
            with self.calls(f"cannot download {relative} from {self.url}"):
                self.fs.get_file(self.key(relative), str(part))
            digest = hashlib.sha256(part.read_bytes()).hexdigest()
            part.replace(local)
        finally:
            part.unlink(missing_ok=True)
        return digest

    @contextmanager
    def calls(self, doing: str) -> Iterator[None]:
        """Turn the store's refusals (no bucket, no credentials, no network) into one line."""
        try:
            yield
        except (FileNotFoundError, ModelBridgeError):
            raise
        except PermissionError as exc:
            raise InvalidInput(f"{doing}: access denied ({_first_line(exc)}); check the "
                               "credentials this machine uses (AWS_ACCESS_KEY_ID, AWS_PROFILE)"
                               ) from None  # fmt: skip
        except Exception as exc:  # botocore's and aiohttp's errors share no base class
            if type(exc).__name__ == "NoCredentialsError":
                raise InvalidInput(
                    f"{doing}: this machine has no credentials for it; set AWS_ACCESS_KEY_ID "
                    "and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE)"
                ) from None
            raise StoreFault(f"{doing}: {_first_line(exc)}") from None


def _filesystem() -> Any:
    try:
        import s3fs
    except ImportError:  # pragma: no cover - s3fs is a dependency; a trimmed install may lack it
        raise InvalidInput("reading an s3:// log location needs the s3fs package") from None
    # One instance per process (fsspec caches it); the endpoint and credentials come from
    # botocore's usual sources, AWS_ENDPOINT_URL included.
    return s3fs.S3FileSystem(use_listings_cache=False)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0]}" if text else type(exc).__name__
