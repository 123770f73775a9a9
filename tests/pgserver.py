"""A throwaway PostgreSQL server on 127.0.0.1 for tests: ``initdb`` + ``pg_ctl`` in a temp dir.

PostgreSQL refuses to run as root, so as root the server runs as the ``postgres`` user
(``runuser``); as anyone else it runs as that user. Nothing is assumed running: the
server starts on a free port, trusts loopback connections (it listens nowhere else)
and is stopped and deleted afterwards. ``.ci/run`` installs PostgreSQL when the machine
lacks it, so a missing server is an error in CI, never a silent skip.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from processes import free_port


class PostgresMissing(RuntimeError):
    """No PostgreSQL server binaries on this machine."""


def bindir() -> Path:
    """The newest ``/usr/lib/postgresql/<version>/bin`` holding ``initdb`` (or ``pg_config --bindir``)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parent.parent.name))
    if found:
        return Path(found[-1]).parent
    pg_config = shutil.which("pg_config")
    if pg_config:
        candidate = Path(subprocess.run([pg_config, "--bindir"], capture_output=True, text=True).stdout.strip())
        if (candidate / "initdb").exists():
            return candidate
    raise PostgresMissing("PostgreSQL is not installed here (apt-get install -y postgresql; .ci/run does it)")


def _as_server_user(argv: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *argv] if os.geteuid() == 0 else argv


class PostgresServer:
    """One running cluster; :meth:`create_database` hands each test a database of its own."""

    def __init__(self, root: Path, port: int) -> None:
        self.root = root
        self.port = port
        self._made = 0

    @property
    def admin_url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def url(self, database: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self, prefix: str = "t", *, template: str | None = None) -> str:
        """A new database (empty, or a copy of the database at URL ``template``); returns its URL."""
        import psycopg

        self._made += 1
        name = f"{prefix}_{os.getpid()}_{self._made}"
        copy = f' TEMPLATE "{template.rsplit("/", 1)[1]}"' if template else ""
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"{copy}')
        return self.url(name)

    def drop_database(self, url: str) -> None:
        import psycopg

        name = url.rsplit("/", 1)[1]
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def running_postgres() -> Iterator[PostgresServer]:
    """Start a cluster for the length of the block (about 2 s), then stop and delete it."""
    bin_ = bindir()
    root = Path(tempfile.mkdtemp(prefix="botsvc-pg-"))
    data = root / "data"
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
    os.chmod(root, 0o700)
    port = free_port()
    log = root / "server.log"
    try:
        subprocess.run(
            _as_server_user([str(bin_ / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust", "-E", "UTF8"]),
            check=True,
            capture_output=True,
            env={**os.environ, "LC_ALL": "C.UTF-8", "LANG": "C.UTF-8"},
        )
        # Durability off: a test cluster is thrown away, and fsyncs would dominate its time.
        options = (
            f"-c listen_addresses=127.0.0.1 -p {port} -k {root} "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
        )
        subprocess.run(
            _as_server_user([str(bin_ / "pg_ctl"), "-D", str(data), "-l", str(log), "-o", options, "-w", "start"]),
            check=True,
            capture_output=True,
        )
        server = PostgresServer(root, port)
        _wait_ready(server)
        yield server
    finally:
        if data.exists():
            subprocess.run(
                _as_server_user([str(bin_ / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"]),
                capture_output=True,
            )
        shutil.rmtree(root, ignore_errors=True)


def _wait_ready(server: PostgresServer, timeout: float = 30.0) -> None:
    import psycopg

    deadline = time.monotonic() + timeout
    while True:
        try:
            with psycopg.connect(server.admin_url, connect_timeout=2):
                return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
