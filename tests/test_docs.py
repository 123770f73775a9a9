"""The documentation stays true to the code: generated pages and pictures are current, and
every configuration key and environment variable the code reads is in the reference.

The site itself is built with ``mkdocs build --strict`` by ``make test`` (broken links and
pages missing from nav fail there).
"""

from __future__ import annotations

import ast
import importlib.util
import re
import tomllib
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
CONFIG_PAGE = DOCS / "configuration.md"
ENV_NAME = re.compile(r"(BOTSVC|SLACK|DISCORD)_[A-Z0-9_]+")


def _script(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_cli_reference_is_what_the_command_tree_generates():
    generated = _script("gen_cli_docs").render()
    committed = (DOCS / "cli.md").read_text(encoding="utf-8")
    assert committed == generated, "docs/cli.md is out of date: run python scripts/gen_cli_docs.py"


def test_cli_reference_covers_every_command():
    from botsvc.cli import cli

    page = (DOCS / "cli.md").read_text(encoding="utf-8")
    for name, command in cli.commands.items():
        assert f"## `botsvc {name}`" in page
        for sub in getattr(command, "commands", {}):
            assert f"## `botsvc {name} {sub}`" in page


def test_alert_pictures_are_what_the_renderers_draw():
    pictures = _script("render_alert_pictures").pictures()
    assert set(pictures) == {"alert-slack.svg", "alert-discord.svg"}
    for name, svg in pictures.items():
        committed = (DOCS / "img" / name).read_text(encoding="utf-8")
        assert committed == svg, f"docs/img/{name} is out of date: run python scripts/render_alert_pictures.py"


def test_alert_pictures_show_the_rendered_headlines_and_buttons():
    pictures = _script("render_alert_pictures").pictures()
    for svg in pictures.values():
        assert "South Korea to end GSOMIA intelligence-sharing" in svg
        assert "Kyodo, The Korea Herald" in svg
        assert "Not relevant" in svg
    assert "Mute event" in pictures["alert-slack.svg"]
    assert "Mute #41" in pictures["alert-discord.svg"]


def test_config_reference_tables_are_what_the_settings_generate():
    page = CONFIG_PAGE.read_text(encoding="utf-8")
    generator = _script("gen_config_docs")
    assert page.count("<!-- BEGIN generated:") == len(generator.TABLES)
    assert generator.refresh(page) == page, "run python scripts/gen_config_docs.py"


def _accepted_config_keys() -> set[str]:
    """Every key name botsvc/config.py accepts: the literal sets of allowed keys it checks
    tables against, and the fields of the settings dataclasses it reads by name."""
    tree = ast.parse((ROOT / "botsvc" / "config.py").read_text(encoding="utf-8"))
    keys: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "table":
            for arg in node.args:
                if isinstance(arg, ast.Set):
                    keys |= {e.value for e in arg.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)}
    from dataclasses import fields

    for cls in _script("gen_config_docs").TABLES.values():
        keys |= {f.name for f in fields(cls)}
    return keys


def test_every_key_config_accepts_is_in_the_configuration_reference():
    keys = _accepted_config_keys()
    assert {"enabled", "managers", "off_subject", "backfill_max_age", "template", "span_days"} <= keys
    page = CONFIG_PAGE.read_text(encoding="utf-8")
    spellings = ("`{}`", "[{}]", "[[{}]]", ".{}`")  # a key, a table, an array of tables, a nested key
    missing = sorted(key for key in keys if not any(form.format(key) in page for form in spellings))
    assert not missing, f"docs/configuration.md does not document: {missing}"


def _environment_variables() -> dict[str, set[str]]:
    """Every BOTSVC_*, SLACK_* and DISCORD_* name written in botsvc/ and adapters/ (read through
    os.environ, click's envvar=, or a constant naming the variable), with where."""
    found: dict[str, set[str]] = {}
    for top in ("botsvc", "adapters"):
        for path in (ROOT / top).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Constant) and isinstance(node.value, str) and ENV_NAME.fullmatch(node.value):
                    found.setdefault(node.value, set()).add(str(path.relative_to(ROOT)))
    return found


def test_every_environment_variable_is_in_the_configuration_reference():
    names = _environment_variables()
    assert {"BOTSVC_ALLOW_PRIVATE_FEEDS", "BOTSVC_HTTP_HOST", "BOTSVC_LOG_LEVEL", "SLACK_BOT_TOKEN"} <= set(names)
    page = CONFIG_PAGE.read_text(encoding="utf-8")
    missing = {name: sorted(where) for name, where in names.items() if f"`{name}`" not in page}
    assert not missing, f"docs/configuration.md does not document: {missing}"


def test_env_example_names_only_documented_variables():
    page = CONFIG_PAGE.read_text(encoding="utf-8")
    text = (ROOT / ".env.example").read_text(encoding="utf-8")
    listed = {m.group(0) for m in ENV_NAME.finditer(text)}
    assert listed, ".env.example names no variables"
    assert not sorted(name for name in listed if f"`{name}`" not in page)


def test_docs_tool_is_pinned_alike_in_requirements_and_the_test_extra():
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    extra = dict(dep.split("==") for dep in pyproject["project"]["optional-dependencies"]["test"])
    pins = dict(line.split("==") for line in (ROOT / "requirements.txt").read_text().splitlines() if "==" in line)
    for name in ("mkdocs", "mkdocs-material"):
        assert extra[name] == pins[name], name


def test_mkdocs_build_needs_no_network():
    """Material fetches Google Fonts at build time unless told not to; the build must stay offline."""
    text = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    assert re.search(r"^\s+font: false\s*$", text, re.M)
    assert "social" not in text and "privacy" not in text


def test_readme_is_short_and_its_links_resolve():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(readme.splitlines()) <= 150
    targets = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", readme)
    local = [t for t in targets if not re.match(r"[a-z]+:", t)]
    assert any(t.startswith("docs/") for t in local)
    for target in local:
        assert (ROOT / target).exists(), f"README links to a missing file: {target}"


@pytest.mark.parametrize("command", ["make demo", "make test"])
def test_readme_keeps_the_two_commands(command):
    assert command in (ROOT / "README.md").read_text(encoding="utf-8")


def test_make_test_builds_the_site_strictly_and_not_quietly():
    """`mkdocs build --strict --quiet` passes a broken link: quiet hides the warnings strict counts."""
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert re.search(r"^test:.*\bdocs-build\b", makefile, re.M)
    build = re.search(r"^docs-build:.*?\n((?:\t.*\n)+)", makefile, re.M)
    assert build and "mkdocs build --strict" in build.group(1) and "--quiet" not in build.group(1)
