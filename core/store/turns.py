"""Processes take turns on a store file: one at a time, from before DuckDB opens it until after
DuckDB has closed it.

DuckDB 2.0 reads a database file's headers before it takes its own lock on the file, and does
not read them again once it has the lock. A process that opens the file while the previous
holder checkpoints on close (new header, WAL removed) then works from the old header: it sees
the database without the previous holder's last commits, and its own checkpoint writes them
away. An exclusive flock on a side file (`<store>.lock`), taken before the open and released
after the close, keeps every ModelBridge process out of that window. Threads of one process
share one DuckDB database (and one checkpoint, at the last close), so they share one turn.
"""

from __future__ import annotations

import fcntl
import os
import random
import threading
import time
from pathlib import Path


def lock_path(store_path: Path) -> Path:
    """The side file whose lock gives a process its turn on STORE_PATH."""
    return store_path.with_name(store_path.name + ".lock")


class Turn:
    """This process's turn on one store file; re-entrant across the threads of the process."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._mutex = threading.Lock()
        self._holders = 0
        self._fd: int | None = None

    def acquire(self, deadline: float) -> bool:
        """Wait until DEADLINE (time.monotonic) for the turn; False when it did not come."""
        if not self._mutex.acquire(timeout=max(deadline - time.monotonic(), 0)):
            return False
        try:
            if self._holders == 0:
                fd = self._open()
                if fd is not None and not _lock(fd, deadline):
                    os.close(fd)
                    return False
                self._fd = fd
            self._holders += 1
            return True
        finally:
            self._mutex.release()

    def release(self) -> None:
        """End one holder's use; the last one of the process lets the other processes in."""
        with self._mutex:
            self._holders -= 1
            if self._holders == 0 and self._fd is not None:
                os.close(self._fd)  # closing the descriptor drops the flock
                self._fd = None

    def _open(self) -> int | None:
        for flags in (os.O_RDWR | os.O_CREAT, os.O_RDONLY):
            try:
                return os.open(self.path, flags | os.O_CLOEXEC, 0o666)
            except OSError:
                continue
        # A read-only folder without the side file: nobody can write there, so there is no
        # checkpoint to collide with.
        return None


def _lock(fd: int, deadline: float) -> bool:
    delay = 0.001
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if time.monotonic() >= deadline:
                return False
            time.sleep(delay * (1 + random.random()))
            delay = min(delay * 2, 0.05)


_turns: dict[str, Turn] = {}
_turns_mutex = threading.Lock()


def turn_for(store_path: Path) -> Turn:
    """The one Turn of this process for the store file at STORE_PATH."""
    key = os.path.realpath(store_path)
    with _turns_mutex:
        found = _turns.get(key)
        if found is None:
            found = _turns[key] = Turn(lock_path(Path(key)))
        return found


def _forget_turns_in_child() -> None:
    # A forked child starts with no turn: the parent's descriptors stay the parent's, and
    # closing the child's copies leaves the parent's lock in place.
    global _turns_mutex
    for turn in _turns.values():
        if turn._fd is not None:
            os.close(turn._fd)
    _turns.clear()
    _turns_mutex = threading.Lock()


os.register_at_fork(after_in_child=_forget_turns_in_child)
