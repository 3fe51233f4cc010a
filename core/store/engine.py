"""The one DuckDB access layer: every connection to the store file is opened here.

Connections are held only for one unit of work (NullPool), so the dashboard and a pipeline
process can take turns on the same file; a lock held by another process is retried with
backoff and turned into a clear message after a bounded wait. SQLAlchemy and SQLModel are
imported on first use: a light catalog read (`Store.catalog_read`) runs portable SQL on a plain
DuckDB connection without them.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import duckdb

from core.errors import InvalidInput, NotFound, StoreBusy
from core.settings import Settings
from core.store import schema
from core.store.faults import duckdb_error, file_kind, is_lock_conflict, store_fault
from core.store.portable import CatalogRead
from core.store.schema import create_or_upgrade, get_meta
from core.store.turns import turn_for

if TYPE_CHECKING:
    import sqlalchemy as sa
    from sqlmodel import Session

T = TypeVar("T")


def _open_file(path: Path, *, read_only: bool) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection to the store file. Light reads and SQLAlchemy's units both open it
    here, with one configuration: DuckDB refuses a second connection to a file open in the same
    process with another one (a light read inside a dashboard's unit of work, for one)."""
    connection = duckdb.connect(str(path), read_only=read_only)
    # DuckDB defaults to the machine's time zone: without this, a naive log timestamp would be
    # read as local time on one machine and as UTC on another.
    connection.execute("SET TimeZone = 'UTC'")
    return connection


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
            from sqlmodel import Session

            self._session = Session(bind=self.conn, expire_on_commit=False)
        return self._session

    def catalog(
        self, query: str, params: dict[str, Any] | list[dict[str, Any]] | None = None
    ) -> Any:
        """Run portable SQL (named :params; a list of them runs it once per item) on the
        catalog; the SQLAlchemy result."""
        import sqlalchemy as sa

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
        self._engines: dict[bool, sa.Engine] = {}  # SQLAlchemy's, made on first use
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

    @property
    def artifact_home(self) -> Path | str:
        """Where registration keeps model files: a folder, or an object store's s3:// URL."""
        return self.artifacts_dir

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
        kind = file_kind(self.path)
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

    def _engine(self, *, read_only: bool = False) -> sa.Engine:
        """SQLAlchemy's engine on the store file (read_only: for a read-only file system)."""
        if read_only not in self._engines:
            import sqlalchemy as sa
            from duckdb_engine import ConnectionWrapper
            from sqlalchemy.pool import NullPool

            self._engines[read_only] = sa.create_engine(
                "duckdb://",
                poolclass=NullPool,
                creator=lambda: ConnectionWrapper(_open_file(self.path, read_only=read_only)),
            )
        return self._engines[read_only]

    def _busy(self) -> StoreBusy:
        return StoreBusy(
            f"The store {self.path} is busy in another process (for example a long "
            f"ingest) and stayed locked for {self.lock_wait_seconds:.0f} s; "
            "try again when it finishes."
        )

    def _connect(self, *, write: bool, deadline: float) -> sa.Connection:
        return self._open_waiting(
            lambda read_only: self._engine(read_only=read_only).connect(),
            write=write,
            deadline=deadline,
        )

    def _open_waiting(self, opener: Callable[[bool], T], *, write: bool, deadline: float) -> T:
        """OPENER(read_only=False), retried while another process holds the file; read-only
        when the file system is, for a read; DuckDB's failures as messages a person can act on."""
        delay = 0.02
        while True:
            try:
                return opener(False)
            except Exception as exc:
                orig = duckdb_error(exc)
                if orig is None:
                    raise
                fault = store_fault(orig, self.path)
                if fault is not None and not write:
                    try:
                        return opener(True)
                    except Exception:
                        raise fault from None
                if fault is not None:
                    raise fault from None
                if isinstance(orig, duckdb.IOException) and not is_lock_conflict(orig):
                    # e.g. --db pointing at a CSV file: the user's mistake, not a bug
                    first = str(orig).strip().splitlines()[0]
                    raise InvalidInput(
                        f"cannot open {self.path} as a ModelBridge store ({first}); point --db "
                        "/ MODELBRIDGE_DB at a store, or create one with `modelbridge init`"
                    ) from None
                if not is_lock_conflict(orig):
                    raise
                if time.monotonic() >= deadline:
                    raise self._busy() from None
                time.sleep(delay * (1 + random.random()))
                delay = min(delay * 2, 0.5)

    @contextmanager
    def _turn(self) -> Iterator[float]:
        """This process's turn on the file, held until DuckDB has closed it (and checkpointed):
        see turns.py. Yields the deadline for opening it."""
        self._refuse_what_is_not_a_store()
        deadline = time.monotonic() + self.lock_wait_seconds
        turn = turn_for(self.path)
        if not turn.acquire(deadline):
            raise self._busy()
        try:
            yield deadline
        finally:
            turn.release()

    @contextmanager
    def work(self, *, write: bool = False) -> Iterator[Work]:
        """Hold the store for one unit of work; write=True commits at the end, else rolls back."""
        with self._turn() as deadline, self._unit(write=write, deadline=deadline) as unit:
            yield unit

    @contextmanager
    def catalog_read(self) -> Iterator[CatalogRead]:
        """A light read-only unit of work on the catalog: portable SQL (`catalog`) on a plain
        DuckDB connection, without SQLAlchemy or SQLModel; the schema is checked as `open` does."""
        self.require()
        if not self._checked:
            if self._schema_version() != schema.SCHEMA_VERSION:
                self.open()  # upgrades an older store; a newer one's release is named
            self._checked = True
        with self._plain_unit() as unit:
            yield unit

    @contextmanager
    def _plain_unit(self) -> Iterator[CatalogRead]:
        with self._turn() as deadline:
            connection = self._open_waiting(
                lambda read_only: _open_file(self.path, read_only=read_only),
                write=False,
                deadline=deadline,
            )
            try:
                connection.begin()
                yield CatalogRead(
                    connection,
                    dialect="duckdb",
                    placeholder=lambda name: f"${name}",
                    audit_key=self.audit_key,
                )
            except duckdb.Error as exc:
                fault = store_fault(exc, self.path)
                if fault is None:
                    raise
                raise fault from None
            finally:
                connection.rollback()
                connection.close()

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
        except BaseException as exc:
            conn.rollback()
            database = duckdb_error(exc) is not None or isinstance(exc, OSError)
            fault = store_fault(exc, self.path) if database else None
            if fault is None:
                raise
            raise fault from None
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
        if file_kind(self.path) == "empty":
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
        with self._plain_unit() as r:
            try:
                found = get_meta(r, key="schema_version")
            except duckdb.CatalogException:  # no store_meta table: not initialised
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
        except Exception as exc:
            import sqlalchemy as sa  # loaded already: the transactions retried are its units

            if not isinstance(exc, duckdb.TransactionException | sa.exc.DBAPIError):
                raise
            if "conflict" not in str(exc).lower() or attempt == attempts - 1:
                raise
            time.sleep(0.05 * (attempt + 1))
    raise AssertionError("unreachable")
