"""The one DuckDB access layer: every connection to the store file is opened here.

Connections are held only for one unit of work (NullPool), so the dashboard and a pipeline
process can take turns on the same file; a lock held by another process is retried with
backoff and turned into a clear message after a bounded wait.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import duckdb
import sqlalchemy as sa
from sqlalchemy.pool import NullPool
from sqlmodel import Session

from core.errors import InvalidInput, NotFound, StoreBusy, StoreFault
from core.settings import Settings
from core.store import schema
from core.store.schema import create_or_upgrade, get_meta
from core.store.turns import turn_for

T = TypeVar("T")

# Every DuckDB database file carries these bytes at offset 8 (checked on files written by
# DuckDB 2.0). DuckDB 2.0 opens some other files, a CSV for one, as an empty in-memory
# database without complaint; the header is what tells a store from any other file.
_DUCKDB_MAGIC = b"DUCK"
_MAGIC_AT = 8


def _file_kind(path: Path) -> str:
    """'missing', 'folder', 'unreadable', 'empty', 'duckdb' or 'other': what is at PATH."""
    if path.is_dir():
        return "folder"
    try:
        with path.open("rb") as f:
            head = f.read(_MAGIC_AT + len(_DUCKDB_MAGIC))
    except FileNotFoundError:
        return "missing"
    except PermissionError:
        return "unreadable"  # DuckDB's own error says so; _connect turns it into one line
    if not head:
        return "empty"
    return "duckdb" if head[_MAGIC_AT:] == _DUCKDB_MAGIC else "other"


def _pin_utc(dbapi_connection: Any, _record: Any) -> None:
    # DuckDB defaults to the machine's time zone: without this, a naive log timestamp would be
    # read as local time on one machine and as UTC on another.
    dbapi_connection.execute("SET TimeZone = 'UTC'")


# What DuckDB says when the file or its disk fails, and what a person can do about it.
_FAULTS = (
    (
        ("Could not read enough bytes", "Corrupt", "checksum", "not a valid DuckDB database"),
        "the store file {path} is damaged (truncated or corrupt); nothing was changed. Restore "
        "it from a backup, or point --db / MODELBRIDGE_DB at another store",
    ),
    (
        ("No space left on device", "Disk full", "out of disk space"),
        "the disk holding {path} is full; the change was rolled back whole, so nothing is "
        "half-written. Free some space and run it again",
    ),
    (
        ("Read-only file system", "read-only mode"),
        "the store {path} is on a read-only file system, so this cannot change it; reading "
        "commands still work",
    ),
)


def store_fault(exc: BaseException, path: Path) -> StoreFault | None:
    """The plain account of a failed file or disk behind EXC, or None when it is something else."""
    text = str(getattr(exc, "orig", None) or exc)
    if _is_lock_conflict(text):
        # The lock message may add "you would be able to open this database in read-only
        # mode": another process holds the file, which is a wait, not a read-only disk.
        return None
    for needles, message in _FAULTS:
        if any(n in text for n in needles):
            return StoreFault(message.format(path=path))
    return None


def _is_lock_conflict(exc: BaseException | str) -> bool:
    text = str(exc)
    return "Could not set lock" in text or "Conflicting lock" in text


@dataclass
class Work:
    """One unit of work: a SQLAlchemy connection to the catalog, a session on it, the DuckDB
    connection that holds the logs, and the key the audit trail is signed with (None: an
    unkeyed chain).

    On the embedded store the catalog and the logs are one DuckDB file and one transaction.
    On a team catalog (PostgreSQL) `logs` is a separate DuckDB connection.
    """

    conn: sa.Connection
    _session: Session | None = field(default=None, repr=False)
    audit_key: bytes | None = field(default=None, repr=False)
    logs: Any = field(default=None, repr=False)
    # A team store's logs (core.store.team_logs.TeamLogs); None on the embedded store.
    space: Any = field(default=None, repr=False)

    @property
    def db(self) -> Any:
        """The DuckDB connection of the logs (on the embedded store, the catalog's own)."""
        if self.logs is not None:
            return self.logs
        return self.conn.connection.driver_connection

    @property
    def dialect(self) -> str:
        """The catalog's engine: 'duckdb' or 'postgresql'."""
        return str(self.conn.dialect.name)

    @property
    def session(self) -> Session:
        """A SQLModel session joined to this unit of work's transaction."""
        if self._session is None:
            self._session = Session(bind=self.conn, expire_on_commit=False)
        return self._session

    def catalog(
        self, query: str, params: dict[str, Any] | list[dict[str, Any]] | None = None
    ) -> Any:
        """Run portable SQL (named :params; a list of them runs it once per item) on the
        catalog; the SQLAlchemy result."""
        if self._session is not None:
            self._session.flush()
        return self.conn.execute(sa.text(query), params or {})

    def catalog_frame(self, query: str, params: dict[str, Any] | None = None) -> Any:
        """Fetch portable SQL on the catalog as a pandas DataFrame."""
        import pandas as pd

        result = self.catalog(query, params)
        # Plain tuples: pandas probes each SQLAlchemy Row for attributes, 10x slower.
        rows = [tuple(row) for row in result.fetchall()]
        return pd.DataFrame.from_records(rows, columns=list(result.keys()))

    def serialise(self, name: str) -> None:
        """Hold NAME until this unit of work ends, so read-then-write steps on it run one at a
        time across processes (on the embedded store, whole units of work already do)."""
        if self.dialect == "postgresql":
            self.catalog("SELECT pg_advisory_xact_lock(hashtext(:name))", {"name": name})

    def sql(self, query: str, params: list[Any] | dict[str, Any] | None = None) -> Any:
        """Run parameterised SQL on the logs' DuckDB connection and return the DuckDB result."""
        if self.space is not None:
            self.space.before(query)
        return self.db.execute(query, params or [])

    def rows(self, query: str, params: list[Any] | dict[str, Any] | None = None) -> list[tuple]:
        """Fetch all rows of a parameterised query on the logs."""
        return self.sql(query, params).fetchall()

    def frame(self, query: str, params: list[Any] | dict[str, Any] | None = None) -> Any:
        """Fetch a parameterised query on the logs as a pandas DataFrame."""
        return self.sql(query, params).df()


class Store:
    """A ModelBridge store: one DuckDB file holding registry, logs, labels and audit."""

    # Whether figures read per-day counts kept in the catalog (core.aggregates.day_counts)
    # rather than the logs: a team store's replicas must not scan its logs.
    keeps_day_counts = False

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        lock_wait_seconds: float = 30.0,
        audit_key: bytes | None = None,
    ) -> None:
        self.path = Path(path)
        self.location = str(self.path)  # how messages name the store
        self.target = str(self.path)  # what opens it again (open_store), a cache key
        self.lock_wait_seconds = lock_wait_seconds
        # Kept outside the store by the operator, so that whoever holds the file cannot rewrite
        # the audit trail and sign it again.
        self.audit_key = audit_key if audit_key is not None else Settings.audit_key_from_env()
        self._engine = sa.create_engine(f"duckdb:///{self.path}", poolclass=NullPool)
        sa.event.listen(self._engine, "connect", _pin_utc)
        self._read_only_engine: sa.Engine | None = None
        self._checked = False

    @classmethod
    def from_settings(cls, settings: Settings) -> Store:
        """Open the store named by the settings (without creating it): a DuckDB file, or a
        team catalog for a PostgreSQL URL."""
        from core.store.team import open_store

        return open_store(settings.db, lock_wait_seconds=settings.lock_wait_seconds)

    @property
    def artifacts_dir(self) -> Path:
        """Folder beside the store file where registered model files are kept."""
        return self.path.parent / f"{self.path.stem}.artifacts"

    def exists(self) -> bool:
        """Whether the store file has been created."""
        return self.path.exists()

    def revision(self) -> tuple[int, int]:
        """A cheap value that changes whenever a write is committed (cache key for the UI)."""
        stamps = []
        for p in (self.path, self.path.with_name(self.path.name + ".wal")):
            try:
                st = p.stat()
                stamps.append(st.st_mtime_ns ^ st.st_size)
            except FileNotFoundError:
                stamps.append(0)
        return stamps[0], stamps[1]

    def _refuse_what_is_not_a_store(self) -> None:
        """Raise InvalidInput, touching nothing, when the path holds something but a store."""
        kind = _file_kind(self.path)
        if kind in ("missing", "unreadable", "duckdb"):
            return
        what = {
            "folder": "it is a folder; point --db / MODELBRIDGE_DB at a store file",
            "empty": "it is an empty file; create the store there with `modelbridge init`",
            "other": (
                "it is not a DuckDB database file (left as it is); point --db / "
                "MODELBRIDGE_DB at a store, or create one at a new path with `modelbridge init`"
            ),
        }[kind]
        raise InvalidInput(f"cannot open {self.path} as a ModelBridge store: {what}")

    def _read_only_connection(self, cause: BaseException) -> sa.Connection:
        """A read-only connection, for reading a store on a read-only file system."""
        if self._read_only_engine is None:
            self._read_only_engine = sa.create_engine(
                f"duckdb:///{self.path}",
                poolclass=NullPool,
                connect_args={"read_only": True},
            )
            sa.event.listen(self._read_only_engine, "connect", _pin_utc)
        try:
            return self._read_only_engine.connect()
        except sa.exc.DBAPIError:
            fault = store_fault(cause, self.path)
            raise (fault or cause) from None

    def _busy(self) -> StoreBusy:
        return StoreBusy(
            f"The store {self.path} is busy in another process (for example a long "
            f"ingest) and stayed locked for {self.lock_wait_seconds:.0f} s; "
            "try again when it finishes."
        )

    def _connect(self, *, write: bool, deadline: float) -> sa.Connection:
        delay = 0.02
        while True:
            try:
                return self._engine.connect()
            except sa.exc.DBAPIError as exc:
                fault = store_fault(exc, self.path)
                if fault is not None and not write:
                    return self._read_only_connection(exc)
                if fault is not None:
                    raise fault from None
                if isinstance(exc.orig, duckdb.IOException) and not _is_lock_conflict(exc):
                    # e.g. --db pointing at a CSV file: the user's mistake, not a bug
                    first = str(exc.orig).strip().splitlines()[0]
                    raise InvalidInput(
                        f"cannot open {self.path} as a ModelBridge store ({first}); point --db "
                        "/ MODELBRIDGE_DB at a store, or create one with `modelbridge init`"
                    ) from None
                if not _is_lock_conflict(exc):
                    raise
                if time.monotonic() >= deadline:
                    raise self._busy() from None
                time.sleep(delay * (1 + random.random()))
                delay = min(delay * 2, 0.5)

    @contextmanager
    def work(self, *, write: bool = False) -> Iterator[Work]:
        """Hold the store for one unit of work; write=True commits at the end, else rolls back."""
        self._refuse_what_is_not_a_store()
        deadline = time.monotonic() + self.lock_wait_seconds
        # The turn is held until DuckDB has closed the file (and checkpointed): see turns.py.
        turn = turn_for(self.path)
        if not turn.acquire(deadline):
            raise self._busy()
        try:
            with self._unit(write=write, deadline=deadline) as unit:
                yield unit
        finally:
            turn.release()

    @contextmanager
    def _unit(self, *, write: bool, deadline: float) -> Iterator[Work]:
        conn = self._connect(write=write, deadline=deadline)
        unit = Work(conn, audit_key=self.audit_key)
        try:
            # Begin now: raw `w.sql` statements would otherwise autocommit one by one.
            conn.begin()
            yield unit
            if unit._session is not None:
                unit._session.flush()
            if write:
                conn.commit()
            else:
                conn.rollback()
        except (duckdb.Error, sa.exc.DBAPIError, OSError) as exc:
            conn.rollback()
            fault = store_fault(exc, self.path)
            if fault is None:
                raise
            raise fault from None
        except BaseException:
            conn.rollback()
            raise
        finally:
            if unit._session is not None:
                unit._session.close()
            conn.close()

    def read(self) -> Any:
        """A read-only unit of work (rolled back at the end)."""
        return self.work(write=False)

    def write(self) -> Any:
        """A unit of work committed at the end, or rolled back whole on any error."""
        return self.work(write=True)

    def init(self, *, logs: str | os.PathLike[str] | None = None) -> bool:
        """Create or upgrade the store's tables; return True when the file was new."""
        if logs is not None:
            raise InvalidInput(
                "--logs names the shared log location of a team catalog (a PostgreSQL URL in "
                "--db / MODELBRIDGE_DB); an embedded store keeps its logs in its own file"
            )
        if _file_kind(self.path) == "empty":
            # Nothing to lose (e.g. a path made by mktemp), and DuckDB 2.0 cannot open it.
            self.path.unlink()
        return self._create_or_upgrade()

    def _create_or_upgrade(self) -> bool:
        created = not self.path.exists()
        if not created and self._schema_version() == schema.SCHEMA_VERSION:
            return False
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.write() as w:
            create_or_upgrade(w, with_logs=True)
        return created

    def _schema_version(self) -> int | None:
        with self.read() as r:
            try:
                found = get_meta(r, key="schema_version")
            except sa.exc.DBAPIError:
                return None
        return int(found) if found else None

    def open(self) -> Store:
        """Check the store exists and is on this release's schema (upgrading it if older).

        Checked once per Store object: a schema does not go back to an older version.
        """
        self.require()
        if not self._checked:
            self._create_or_upgrade()
            self._checked = True
        return self

    def require(self) -> Store:
        """Fail with a clear message when the store file does not exist yet."""
        if not self.exists():
            raise NotFound(
                f"No ModelBridge store at {self.path}; create one with `modelbridge init` "
                "(or `modelbridge demo` for the demo) or point --db / MODELBRIDGE_DB at it."
            )
        return self


def retry_on_conflict(run: Callable[[], T], attempts: int = 5) -> T:
    """Run a transaction again when it lost a race (a write-write conflict), then report it."""
    for attempt in range(attempts):
        try:
            return run()
        except (duckdb.TransactionException, sa.exc.DBAPIError) as exc:
            if "conflict" not in str(exc).lower() or attempt == attempts - 1:
                raise
            time.sleep(0.05 * (attempt + 1))
    raise AssertionError("unreachable")
