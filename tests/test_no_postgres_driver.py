"""A process on SQLite never loads the PostgreSQL driver, and the store's error names still
catch psycopg's errors wherever a psycopg connection can exist.

psycopg, its pool and the job queue cost every process about 13 MB and part of its start-up;
only a ``postgresql://`` URL loads them (:mod:`botsvc.store.postgres`). Each check runs in a
fresh interpreter: this test process has long loaded psycopg for other tests.
"""

from __future__ import annotations

import ast
import os
import signal
import subprocess
import sys
from pathlib import Path

from processes import wait_for

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples" / "feeds.toml"
DRIVER = ("psycopg", "psycopg_pool", "psycopg_binary", "procrastinate")
REPORT = f"print('driver loaded:', sorted(name for name in {DRIVER!r} if name in sys.modules), flush=True)\n"


def python(script: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", script], cwd=cwd, capture_output=True, text=True, timeout=120)


def test_poll_once_on_sqlite_loads_no_postgres_driver(tmp_path):
    script = (
        "import sys\n"
        "from botsvc.cli import main\n"
        f"sys.argv = ['botsvc', 'poll', '--once', '--config', {str(EXAMPLES)!r}, '--db', 'p.db']\n"
        "try:\n"
        "    main()\n"
        "except SystemExit as exc:\n"
        "    assert not exc.code, exc.code\n" + REPORT
    )
    proc = python(script, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "polled 5 feed(s)" in proc.stderr and "new event" in proc.stdout  # it did poll and deliver
    assert "driver loaded: []" in proc.stdout, proc.stdout


def test_the_demo_a_chat_command_and_what_run_imports_load_no_postgres_driver(tmp_path):
    script = (
        "import asyncio, sys\n"
        "from botsvc.cli import main\n"
        "sys.argv = ['botsvc', 'demo', '--db', 'demo.db']\n"
        "try:\n"
        "    main()\n"
        "except SystemExit as exc:\n"
        "    assert not exc.code, exc.code\n"
        "from botsvc.models import CommandContext\n"
        "from botsvc.service.app import open_app\n"
        f"app = open_app({str(EXAMPLES)!r}, 'demo.db')\n"
        "ctx = CommandContext(platform='slack', channel='C1', workspace='T1', user='U1', can_manage=True)\n"
        "print('answer:', asyncio.run(app.commands().run('search gsomia', ctx)))\n"
        "app.close()\n"
        "import botsvc.cli.polling, botsvc.cli.worker, botsvc.service.scheduler, botsvc.service.web\n" + REPORT
    )
    proc = python(script, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "answer:" in proc.stdout and "GSOMIA" in proc.stdout, proc.stdout
    assert "driver loaded: []" in proc.stdout, proc.stdout


def test_run_on_sqlite_loads_no_postgres_driver(tmp_path):
    """``botsvc run`` polls, serves HTTP and stops on SIGTERM; at exit it has loaded no driver."""
    script = (
        "import atexit, sys\n"
        f"atexit.register(lambda: exec({REPORT!r}))\n"
        "from botsvc.cli import main\n"
        f"sys.argv = ['botsvc', 'run', '--config', {str(EXAMPLES)!r}, '--db', 'run.db']\n"
        "main()\n"
    )
    out, err = tmp_path / "out.txt", tmp_path / "err.txt"
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "BOTSVC_HTTP_PORT": "0", "BOTSVC_HTTP_HOST": "127.0.0.1"}
    with out.open("w") as stdout, err.open("w") as stderr:
        proc = subprocess.Popen([sys.executable, "-c", script], cwd=tmp_path, stdout=stdout, stderr=stderr, env=env)
        try:
            assert wait_for(lambda: err.read_text().count("polled 1 feed(s)") >= 5), err.read_text()
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=15) == 0, err.read_text()
        finally:
            if proc.poll() is None:
                proc.kill()
    assert "driver loaded: []" in out.read_text(), out.read_text() + err.read_text()


POSTGRES_ONLY = (
    "botsvc.store.postgres",
    "botsvc.store.to_postgres",
    "botsvc.service.jobs",
    "botsvc.service.queueworker",
)
"""The modules that may import the driver at their top: only a postgresql:// URL leads to them."""


def test_every_other_module_imports_without_the_driver(tmp_path):
    """A new top-level ``import psycopg`` (or of a PostgreSQL-only module) anywhere else would
    load the driver into processes on SQLite: every module but those above is imported here."""
    script = (
        "import importlib, pkgutil, sys\n"
        "import adapters, botsvc\n"
        "names = [m.name for p in (botsvc, adapters) for m in pkgutil.walk_packages(p.__path__, p.__name__ + '.')]\n"
        f"for name in sorted(set(names) - {set(POSTGRES_ONLY)!r} - {{'botsvc.__main__'}}):\n"
        "    importlib.import_module(name)\n"
        f"assert set({POSTGRES_ONLY!r}) <= set(names), names\n"
        "print('modules:', len(names))\n" + REPORT
    )
    proc = python(script, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert int(proc.stdout.split("modules:")[1].split()[0]) > 100, proc.stdout
    assert "driver loaded: []" in proc.stdout, proc.stdout


def test_psycopg_errors_are_caught_by_the_store_names_once_the_postgres_backend_is_loaded(tmp_path):
    """Names read at ``except`` time hold psycopg's classes as soon as it is loaded, also in
    modules imported before it (the command line's failure handler here)."""
    script = (
        "import sqlite3, sys\n"
        "from botsvc.cli.base import guarded\n"
        "from botsvc.store import errors\n"
        "assert 'psycopg' not in sys.modules\n"
        "assert errors.DatabaseError == (sqlite3.Error,), errors.DatabaseError\n"
        "import psycopg\n"
        "from botsvc.store import postgres\n"
        "for name, raised in [('DatabaseError', psycopg.OperationalError()), ('DatabaseError', psycopg.Error()),\n"
        "                     ('IntegrityError', psycopg.errors.UniqueViolation()),\n"
        "                     ('OperationalError', psycopg.OperationalError('server closed the connection'))]:\n"
        "    try:\n"
        "        raise raised\n"
        "    except getattr(errors, name):\n"
        "        print('caught', name, type(raised).__name__)\n"
        "for raised in (sqlite3.OperationalError('disk I/O error'), sqlite3.IntegrityError('UNIQUE')):\n"
        "    try:\n"
        "        raise raised\n"
        "    except errors.DatabaseError:\n"
        "        print('caught sqlite', type(raised).__name__)\n"
        "def lost():\n"
        "    raise psycopg.OperationalError('server closed the connection unexpectedly')\n"
        "guarded(lost)()\n"
    )
    proc = python(script, tmp_path)
    assert proc.stdout.count("caught ") == 6, proc.stdout + proc.stderr
    assert proc.returncode == 1, proc.stderr  # one line and status 1, not a traceback
    assert "Traceback" not in proc.stderr
    assert proc.stderr.startswith("botsvc: error: database write failed: "), proc.stderr


def early_bindings(path: Path) -> list[str]:
    """Where ``path`` binds a name of :mod:`botsvc.store.errors` at import, as ``line: from ... import``."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.names:
            module = node.module or ""
            if module == "botsvc.store.errors" or (node.level and module == "errors"):
                found.append(f"{node.lineno}: from {'.' * node.level}{module} import ...")
    return found


SOURCES = sorted(
    p
    for folder in ("botsvc", "adapters", "benchmarks", "scripts", "tests")
    for p in (ROOT / folder).rglob("*.py")
    # not what a run left there: benchmarks/poll_speed.py installs `reader` in benchmarks/.venv-reader
    if not any(part.startswith(".") for part in p.relative_to(ROOT).parts)
)


def test_no_module_binds_the_error_names_at_import():
    """``from botsvc.store.errors import DatabaseError`` would keep a tuple without psycopg's
    classes when psycopg is loaded later; every caller reads ``errors.DatabaseError``."""
    found = {str(path.relative_to(ROOT)): early_bindings(path) for path in SOURCES}
    assert {path: lines for path, lines in found.items() if lines} == {}


def test_the_binding_check_catches_an_early_binding(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text(
        "from botsvc.store.errors import DatabaseError\nfrom .errors import IntegrityError\n"
        "from botsvc.store import errors\n",
        encoding="utf-8",
    )
    assert early_bindings(bad) == ["1: from botsvc.store.errors import ...", "2: from .errors import ..."]
