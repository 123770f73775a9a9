"""The tree is the pipeline, and imports point down it: never back up, never into adapters."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

#: Stages in the order data flows; a module may import its own stage and earlier ones.
STAGES = ["ingest", "judge", "store", "deliver", "chat", "service", "cli"]
#: Shared by every stage: neutral models, the one reader of feeds.toml, clock helpers,
#: and the package root (its version string).
SHARED = {"botsvc", "botsvc.models", "botsvc.config", "botsvc.clocks"}


def modules(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> set[str]:
    """Absolute module names imported by ``path`` (``from x import y`` counts as x, and x.y when y is a module)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module)
            found.update(
                f"{node.module}.{alias.name}"
                for alias in node.names
                if (ROOT / node.module.replace(".", "/") / f"{alias.name}.py").exists()
            )
    return found


def stage_of(name: str) -> str | None:
    parts = name.split(".")
    if name == "botsvc.__main__":  # ``python -m botsvc`` is the command line
        return "cli"
    if parts[0] != "botsvc" or len(parts) < 2:
        return None
    return parts[1] if parts[1] in STAGES else None


CORE = [(module_name(p), p) for p in modules("botsvc")]


@pytest.mark.parametrize("name,path", CORE, ids=[n for n, _ in CORE])
def test_imports_point_down_the_pipeline(name, path):
    own = stage_of(name)
    for target in imports(path):
        if not target.startswith("botsvc") or target in SHARED:
            continue
        theirs = stage_of(target)
        assert theirs is not None, f"{name} imports {target}, which belongs to no stage"
        if own is None:  # a shared module: only config may look into stages (for their settings types)
            assert name == "botsvc.config", f"shared module {name} imports stage module {target}"
            continue
        assert STAGES.index(theirs) <= STAGES.index(own), f"{name} ({own}) imports {target} from a later stage"


@pytest.mark.parametrize("name,path", CORE, ids=[n for n, _ in CORE])
def test_the_core_never_imports_a_chat_adapter_or_sdk(name, path):
    for target in imports(path):
        root = target.split(".")[0]
        assert root not in {"adapters", "discord", "slack_bolt", "slack_sdk"}, f"{name} imports {target}"


def test_ingest_uses_nothing_of_ours_but_itself_and_the_models():
    for path in modules("botsvc/ingest"):
        for target in imports(path):
            if target.startswith("botsvc"):
                assert target in {"botsvc", "botsvc.models"} or target.startswith("botsvc.ingest"), (
                    f"{module_name(path)} imports {target}"
                )


def test_every_module_belongs_to_a_stage_or_is_shared():
    loose = [name for name, _ in CORE if stage_of(name) is None and name not in SHARED]
    assert loose == []


def test_adapters_depend_on_the_core_and_not_on_each_other():
    for path in modules("adapters"):
        name = module_name(path)
        package = name.split(".")[1] if name.count(".") >= 1 else ""
        for target in imports(path):
            if target.startswith("adapters.") and target.split(".")[1] not in {package, "links", "console"}:
                if package in {"slack", "discord"}:
                    assert target.split(".")[1] not in {"slack", "discord"}, f"{name} imports {target}"


def test_the_checks_catch_a_backward_import(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("from botsvc.service.app import App\n", encoding="utf-8")
    assert "botsvc.service.app" in imports(bad)
    assert STAGES.index(stage_of("botsvc.service.app")) > STAGES.index("judge")


#: A string that reads as an SQL statement: upper-case keywords as the project writes them
#: (``SELECT 1`` too), or a statement's full shape in any case. Messages such as
#: "UPDATE [event 3] …" or "Select a topic" are not statements.
SQL_STATEMENT = re.compile(
    r"^\s*(?:"
    r"SELECT\s+\S|INSERT\s|REPLACE\s+INTO\s|UPDATE\s+\w+\s+SET\b|DELETE\s+FROM\b|CREATE\s|DROP\s|ALTER\s|PRAGMA\s"
    r"|WITH\s+(?:RECURSIVE\s+)?\w+(?:\s*\([^)]*\))?\s+AS\s*\(|BEGIN(?:\s+\w+)?\s*$|COMMIT\s*$|ROLLBACK\b|SAVEPOINT\s"
    r"|(?i:select\s.+\sfrom\s+\w+(?:\s+(?:where|join|order|group|limit)\b|\s*$)|insert\s+(?:or\s+\w+\s+)?into\s+\w|update\s+\w+\s+set\s+\w+\s*=|delete\s+from\s+\w+\s+where\b)"
    r")",
    re.DOTALL,
)
DATABASE_MODULES = {"sqlite3", "sqlite_utils"}
#: A store's connection and its raw access: only botsvc/store/ reaches through these.
DATABASE_ATTRIBUTES = {"db", "conn"}
DATABASE_CALLS = {"query", "execute", "executemany", "executescript"}


def _text(node: ast.AST) -> str | None:
    """The text of a string literal or f-string (each ``{…}`` read as a word), else None."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(
            part.value if isinstance(part, ast.Constant) and isinstance(part.value, str) else "x"
            for part in node.values
        )
    return None


def database_access(path: Path) -> list[str]:
    """Where ``path`` holds SQL or reaches the database itself: ``line: what`` for each place."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = {id(node.value) for node in ast.walk(tree) if isinstance(node, ast.Expr)}
    inside_fstrings = {
        id(part)
        for node in ast.walk(tree)
        if isinstance(node, ast.JoinedStr)
        for part in ast.walk(node)
        if part is not node
    }
    found: list[str] = []
    for node in ast.walk(tree):
        line = getattr(node, "lineno", 0)
        if isinstance(node, ast.Import):
            found += [f"{line}: imports {a.name}" for a in node.names if a.name.split(".")[0] in DATABASE_MODULES]
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] in DATABASE_MODULES:
            found.append(f"{line}: imports from {node.module}")
        elif isinstance(node, ast.Attribute) and node.attr in DATABASE_ATTRIBUTES:
            found.append(f"{line}: uses .{node.attr}")
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in DATABASE_CALLS:
            found.append(f"{line}: calls .{node.func.attr}()")
        elif id(node) not in docstrings and id(node) not in inside_fstrings:
            text = _text(node)
            if text is not None and SQL_STATEMENT.match(text):
                found.append(f"{line}: SQL {text.strip()[:60]!r}")
    return found


OUTSIDE_THE_STORE = [
    path for path in modules("botsvc") + modules("adapters") if (ROOT / "botsvc" / "store") not in path.parents
]


@pytest.mark.parametrize("path", OUTSIDE_THE_STORE, ids=lambda p: str(p.relative_to(ROOT)))
def test_sql_lives_in_the_store_only(path):
    """deliver/, chat/, service/, cli/ and the adapters call named store functions: no SQL, no
    connection, no database driver (one data-access layer, so a second database engine can be added)."""
    assert database_access(path) == [], f"{path.relative_to(ROOT)}: move this into botsvc/store/"


def test_the_sql_check_catches_sql_outside_the_store(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text(
        "import sqlite3\n"
        "from sqlite_utils import Database\n"
        "def f(store, table, ids):\n"
        "    rows = store.query('SELECT id FROM events WHERE seeded = 0')\n"
        "    store.db.execute('UPDATE subscriptions SET muted_at = NULL WHERE id = ?', (1,))\n"
        "    store.db.conn.executemany('INSERT OR IGNORE INTO t (a) VALUES (?)', [])\n"
        "    sql = f'DELETE FROM {table} WHERE id IN ({ids})'\n"
        "    other = 'select title from articles'\n"
        "    return 'PRAGMA foreign_keys = ON', 'SELECT 1', 'CREATE TABLE x (a)', sql, other\n",
        encoding="utf-8",
    )
    found = "\n".join(database_access(bad))
    for expected in (
        "1: imports sqlite3",
        "2: imports from sqlite_utils",
        "4: calls .query()",
        "4: SQL 'SELECT id FROM events",
        "5: uses .db",
        "5: SQL 'UPDATE subscriptions",
        "6: uses .conn",
        "6: calls .executemany()",
        "6: SQL 'INSERT OR IGNORE",
        "7: SQL 'DELETE FROM x WHERE",
        "8: SQL 'select title",
        "9: SQL 'PRAGMA",
        "9: SQL 'SELECT 1'",
        "9: SQL 'CREATE TABLE",
    ):
        assert expected in found, f"{expected!r} not caught in:\n{found}"


def test_the_sql_check_leaves_messages_and_other_queries_alone(tmp_path):
    good = tmp_path / "good.py"
    good.write_text(
        '"""SELECT the right topic: a docstring is not a statement."""\n'
        "def f(request, entry, n):\n"
        "    marker = 'UPDATE ' if entry.update else ''\n"
        "    page = request.query.get('page')\n"
        "    told = f'UPDATE [event {n}] now 3 sources'\n"
        "    return marker, page, told, 'Select a channel from the list', 'Delete from chat'\n",
        encoding="utf-8",
    )
    assert database_access(good) == []


@pytest.mark.parametrize(
    "path", sorted((ROOT / "benchmarks").glob("*.py")) + sorted((ROOT / "scripts").glob("*.py")), ids=lambda p: p.name
)
def test_scripts_outside_the_suite_import_names_that_exist(path):
    """Benchmarks are not run by the suite; a moved module must not break them silently."""
    import importlib

    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] in {"botsvc", "adapters"}:
            module = importlib.import_module(node.module)
            for alias in node.names:
                assert hasattr(module, alias.name) or importlib.util.find_spec(f"{node.module}.{alias.name}"), (
                    f"{path.name}: from {node.module} import {alias.name}"
                )
