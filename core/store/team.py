"""A team's store: the catalog on PostgreSQL, shared by pipeline workers and dashboard replicas
on any machine, with model files and logs under a shared log location.

PostgreSQL gives no file lock to take turns on: units of work run side by side, read-then-write
steps hold `Work.serialise` locks, and one production version per model is a primary key. Every
write bumps a revision counter in the catalog, the cache key of every replica.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

import duckdb

from core.errors import InvalidInput, NotFound, StoreFault
from core.settings import Settings, is_catalog_url
from core.store import schema
from core.store.engine import Store, Work
from core.store.portable import CatalogRead
from core.store.schema import create_or_upgrade, get_meta, put_meta

if TYPE_CHECKING:
    import sqlalchemy as sa

    from core.logfiles import LogLocation

LOG_LOCATION = "log_location"  # store_meta key: the folder holding model files and logs
REVISION = "revision"  # store_meta key: bumped by every committed write


def _engine_url(url: str) -> str:
    # psycopg 3 is the driver installed with ModelBridge; plain postgresql:// means it too.
    return "postgresql+psycopg://" + url.removeprefix("postgresql+psycopg://").removeprefix(
        "postgresql://"
    )


def _shown(url: str) -> str:
    """URL with its password hidden, as SQLAlchemy renders it (how messages name a catalog)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = f"{parts.username or ''}:***@{parts.netloc.rpartition('@')[2]}"
    return urlunsplit(parts._replace(netloc=netloc))


class TeamStore(Store):
    """A ModelBridge store whose catalog is a PostgreSQL database named by URL."""

    keeps_day_counts = True

    def __init__(
        self, url: str, *, lock_wait_seconds: float = 30.0, audit_key: bytes | None = None
    ) -> None:
        self.url = _engine_url(url)
        self.target = self.url
        self.location = _shown(self.url)
        self.lock_wait_seconds = lock_wait_seconds
        self.audit_key = audit_key if audit_key is not None else Settings.audit_key_from_env()
        self._engines: dict[bool, sa.Engine] = {}
        self._checked = False
        self._log_location: str | None = None

    def _engine(self, *, read_only: bool = False) -> sa.Engine:
        """SQLAlchemy's engine on the catalog, made on first use (one: a catalog has no
        read-only file system to fall back to)."""
        if not self._engines:
            import sqlalchemy as sa

            self._engines[False] = sa.create_engine(
                self.url,
                pool_pre_ping=True,
                connect_args={"connect_timeout": self._connect_timeout},
            )
        return self._engines[False]

    @property
    def _connect_timeout(self) -> int:
        return max(1, int(self.lock_wait_seconds))

    @property
    def path(self) -> Path:  # type: ignore[override]
        """A team store is not a file: ask for its `location` or `log_location` instead."""
        raise InvalidInput(f"{self.location} is a team catalog, not a store file")

    @property
    def logs(self) -> LogLocation:
        """Where the store's model files and logs are: a shared folder or an object store."""
        from core.logfiles import LogLocation

        if self._log_location is None:
            with self.read() as r:
                found = get_meta(r, key=LOG_LOCATION)
            if found is None:
                raise NotFound(
                    f"the team catalog {self.location} has no log location; set it with "
                    "`modelbridge init --db URL --logs PATH`"
                )
            self._log_location = found
        return LogLocation.of(self._log_location)

    @property
    def log_location(self) -> Path:
        """The shared folder holding the store's model files and logs (a local location)."""
        return self.logs.folder

    @property
    def artifact_home(self) -> Path | str:
        """Where registered model files are kept: artifacts/ under the log location."""
        logs = self.logs
        return f"{logs.remote.url}/artifacts" if logs.remote else logs.folder / "artifacts"

    def _unreachable(self, exc: BaseException) -> StoreFault | NotFound:
        first = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        if "does not exist" in first:
            return NotFound(
                f"cannot open the team catalog {self.location}: {first}; create the database "
                "(e.g. `createdb`) and then run `modelbridge init --db URL --logs PATH`"
            )
        return StoreFault(
            f"cannot reach the team catalog {self.location} ({first}); check that PostgreSQL "
            "is running and the URL, user and password are right"
        )

    def _connect_catalog(self) -> sa.Connection:
        import sqlalchemy as sa

        try:
            return self._engine().connect()
        except sa.exc.DBAPIError as exc:
            raise self._unreachable(exc) from None

    @contextmanager
    def _plain_unit(self) -> Iterator[CatalogRead]:
        """A read-only transaction on a plain psycopg connection (no SQLAlchemy)."""
        import psycopg

        try:
            connection = psycopg.connect(
                self.url.replace("postgresql+psycopg://", "postgresql://", 1),
                connect_timeout=self._connect_timeout,
            )
        except psycopg.OperationalError as exc:
            raise self._unreachable(exc) from None
        try:
            yield CatalogRead(
                connection,
                dialect="postgresql",
                placeholder=lambda name: f"%({name})s",
                audit_key=self.audit_key,
            )
        finally:
            connection.rollback()
            connection.close()

    def exists(self) -> bool:
        """Whether the catalog has been initialised (`modelbridge init`)."""
        return self._schema_version() is not None

    def _schema_version(self) -> int | None:
        import psycopg

        with self._plain_unit() as r:
            try:
                found = get_meta(r, key="schema_version")
            except psycopg.errors.UndefinedTable:
                return None
        return int(found) if found else None

    def revision(self) -> tuple[int, int]:
        """The catalog's write counter: the same value on every replica."""
        with self._plain_unit() as r:
            found = get_meta(r, key=REVISION)
        return (int(found) if found else 0, 0)

    def work(self, *, write: bool = False) -> Any:
        """One unit of work: a catalog transaction and an in-memory DuckDB for the logs."""
        return self._team_unit(write=write, with_logs=True)

    @contextmanager
    def _team_unit(self, *, write: bool, with_logs: bool) -> Iterator[Work]:
        from core.logfiles import LogLocation
        from core.store.team_logs import TeamLogs

        conn = self._connect_catalog()
        logs = duckdb.connect()
        logs.execute("SET TimeZone = 'UTC'")
        unit = Work(conn, audit_key=self.audit_key, logs=logs)
        try:
            conn.begin()
            if with_logs and self._log_location is None:
                self._log_location = get_meta(unit, key=LOG_LOCATION)
            if with_logs and self._log_location is not None:
                unit.space = TeamLogs(
                    logs, catalog=unit.catalog, location=LogLocation.of(self._log_location)
                )
                unit.space.bind(unit.session)
            yield unit
            if write and unit.space is not None:
                unit.space.flush()
            if unit._session is not None:
                unit._session.flush()
            if write:
                unit.catalog(
                    "UPDATE store_meta SET value = CAST(CAST(value AS BIGINT) + 1 AS VARCHAR) "
                    "WHERE key = :key",
                    {"key": REVISION},
                )
                conn.commit()
            else:
                conn.rollback()
        except BaseException:
            conn.rollback()
            raise
        finally:
            if unit._session is not None:
                unit._session.close()
            conn.close()
            logs.close()

    def init(self, *, logs: str | os.PathLike[str] | None = None) -> bool:
        """Create or upgrade the catalog's tables and set its log location; True when new."""
        created = self._schema_version() is None
        if logs is None and created:
            raise InvalidInput(
                f"a team catalog needs a log location shared by every machine: "
                f"`modelbridge init --db {self.location} --logs PATH`"
            )
        from core.logfiles import LogLocation

        with self._team_unit(write=True, with_logs=False) as w:
            w.serialise("schema")
            create_or_upgrade(w, with_logs=False)
            if get_meta(w, key=REVISION) is None:
                put_meta(w, key=REVISION, value="0")
            if logs is not None:
                location = LogLocation.parse(str(logs), create=True)
                put_meta(w, key=LOG_LOCATION, value=location.stored)
        self._log_location = None
        return created

    def _create_or_upgrade(self) -> bool:
        if self._schema_version() == schema.SCHEMA_VERSION:
            return False
        with self._team_unit(write=True, with_logs=False) as w:
            w.serialise("schema")
            create_or_upgrade(w, with_logs=False)
        return False

    def clean_log_files(self, *, grace_seconds: float) -> list[str]:
        """Remove the log files no batch committed (a worker crashed before its catalog commit)
        once they are older than GRACE_SECONDS; the paths removed."""
        from sqlmodel import select

        from core.logfiles import LogFile, clean_orphans

        with self.read() as r:
            committed = r.session.exec(select(LogFile.path)).all()
        return clean_orphans(self.logs, committed_paths=committed, grace_seconds=grace_seconds)

    def require(self) -> TeamStore:
        """Fail with a clear message when the catalog has not been initialised."""
        if not self.exists():
            raise NotFound(
                f"the team catalog {self.location} has no ModelBridge tables yet; run "
                "`modelbridge init --db URL --logs PATH` first"
            )
        return self


def open_store(
    target: str | os.PathLike[str],
    *,
    lock_wait_seconds: float = 30.0,
    audit_key: bytes | None = None,
) -> Store:
    """The store at TARGET: a DuckDB file (embedded) or a PostgreSQL URL (a team catalog)."""
    if is_catalog_url(target):
        return TeamStore(str(target), lock_wait_seconds=lock_wait_seconds, audit_key=audit_key)
    return Store(target, lock_wait_seconds=lock_wait_seconds, audit_key=audit_key)
