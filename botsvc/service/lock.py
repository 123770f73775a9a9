"""One polling process per database.

Two processes polling and delivering from one database could send the same outbox
message twice, so ``run`` and ``poll`` hold an exclusive lock on ``<database>.lock``
for their lifetime and a second one refuses to start. Read-only commands (search,
status, explain, ...) take no lock. The lock is an OS file lock: it is released when the
process exits, however it exits (a SIGKILL leaves no stale lock behind).

On PostgreSQL the same rule holds through a session advisory lock on a connection of
its own (:func:`botsvc.store.postgres.hold_instance_lock`): the server drops it when the
process's connection goes, however the process ends.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, TextIO

from botsvc.store.backends import is_postgres_url
from botsvc.store.store import StoreError, check_directory

if TYPE_CHECKING:
    from botsvc.store.postgres import PostgresDatabase


class InstanceLock:
    def __init__(self, db_path: str | Path, purpose: str) -> None:
        self.db_path = str(db_path)
        self.path = Path(f"{db_path}.lock")
        self.purpose = purpose
        self._file: TextIO | None = None
        self._server: PostgresDatabase | None = None

    def __enter__(self) -> InstanceLock:
        if str(self.path) == ":memory:.lock":
            return self
        if is_postgres_url(self.db_path):
            from botsvc.store.postgres import hold_instance_lock  # psycopg loads only for PostgreSQL

            self._server = hold_instance_lock(self.db_path, f"botsvc {self.purpose} (pid {os.getpid()})")
            return self
        check_directory(self.db_path)
        try:
            handle = open(self.path, "a+", encoding="utf-8")
        except OSError as exc:
            raise StoreError(
                f"database {self.db_path}: cannot create {self.path.name} beside it: {exc.strerror or exc} (check --db)"
            ) from None
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            handle.close()
            raise StoreError(
                f"{self.path.with_suffix('')} is in use by {holder}; stop it first "
                "(two processes polling one database could post the same message twice)"
            ) from None
        except OSError as exc:
            handle.close()
            raise StoreError(f"cannot lock {self.path}: {exc.strerror or exc}") from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"botsvc {self.purpose} (pid {os.getpid()})")
        handle.flush()
        self._file = handle
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        if self._file is not None:
            fcntl.flock(self._file, fcntl.LOCK_UN)
            self._file.close()
            self._file = None
