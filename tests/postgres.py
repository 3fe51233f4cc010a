"""A throwaway PostgreSQL server for the team-catalog tests: initdb in a temporary folder,
listening on 127.0.0.1 at a free port, stopped at the end of the test session.

PostgreSQL refuses to run as root, so a root test run starts it as the `postgres` user on a
folder that user owns. `.ci/run` installs the server binaries from Debian's packages when a
machine lacks them.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path


def _binary(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    # Debian's package keeps the server binaries off the PATH, one folder per major version.
    candidates = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"))
    return str(candidates[-1]) if candidates else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _run_as_server_user(args: list[str]) -> None:
    if os.geteuid() == 0:
        command = " ".join(f"'{a}'" for a in args)
        args = ["su", "postgres", "-s", "/bin/bash", "-c", command]
    subprocess.run(args, check=True, capture_output=True, text=True, timeout=120)


class Server:
    """A running server: `url(db)` names a database on it, `create(db)` makes one."""

    def __init__(self, folder: Path, port: int) -> None:
        self.folder = folder
        self.port = port
        self._created = 0

    def url(self, database: str) -> str:
        """The SQLAlchemy URL of DATABASE on this server."""
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def create(self, prefix: str = "mb") -> str:
        """A new empty database; its URL."""
        import psycopg

        self._created += 1
        name = f"{prefix}_{os.getpid()}_{self._created}"
        with psycopg.connect(
            f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres", autocommit=True
        ) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)


@contextlib.contextmanager
def server() -> Iterator[Server]:
    """Start a server for the duration of the block."""
    folder = Path(tempfile.mkdtemp(prefix="mb-pg-"))
    data = folder / "data"
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres", "postgres")
    port = _free_port()
    initdb, pg_ctl = _binary("initdb"), _binary("pg_ctl")
    assert initdb and pg_ctl, "PostgreSQL server binaries are missing"
    _run_as_server_user([initdb, "-D", str(data), "-A", "trust", "-U", "postgres"])
    options = f"-k {folder} -h 127.0.0.1 -p {port} -c fsync=off -c max_connections=200"
    _run_as_server_user([pg_ctl, "-D", str(data), "-o", options, "-l", f"{folder}/log", "-w",
                         "start"])  # fmt: skip
    try:
        yield Server(folder, port)
    finally:
        with contextlib.suppress(subprocess.SubprocessError):
            _run_as_server_user([pg_ctl, "-D", str(data), "-m", "immediate", "-w", "stop"])
        shutil.rmtree(folder, ignore_errors=True)
